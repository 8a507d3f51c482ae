"""Follow the order service's settings in the CMDB: a change applies within moments, no restart.

Keys, under ``<environment>/order-service/``: ``cache`` (``{"ttl_seconds": 30}``), ``features``
(``{"recompute_on_write": true}``), ``shards`` (``{"count": 4, "directory": "shards"}``, read at
start) and ``slow_endpoint_seconds``. A key that is absent leaves the default in force; a value
that does not fit (:class:`~order_service.settings.OrderServiceSettings`) is refused with its
one-line settings error in the log, and the last good value stays in force.
"""
from __future__ import annotations

import logging
from typing import Any

from foundation.settings import SettingsError, validate

from .settings import LiveSettings, OrderServiceSettings

SERVICE_KEY = "order-service"
SECTIONS = tuple(OrderServiceSettings.model_fields)
log = logging.getLogger("order_service.live_config")


def follow_cmdb(settings: LiveSettings, cmdb: Any, environment: str) -> list[Any]:
    """Watch each section's key; returns the watches (``stop()`` them to let go)."""
    watches = []
    source = f"{environment}/{SERVICE_KEY}"
    for section in SECTIONS:
        def deliver(change: Any, section: str = section) -> None:
            if change.exists and change.value is not None:
                try:
                    validate(OrderServiceSettings, {section: change.value}, source)
                except SettingsError as exc:
                    log.error("%s; %s keeps its last good value", exc, section)
                    return
                settings.update(section, change.value)
                log.info("setting %s is now %r (CMDB version %s)", section, change.value, change.version)
        watches.append(cmdb.watch(f"{environment}/{SERVICE_KEY}/{section}", deliver))
    return watches
