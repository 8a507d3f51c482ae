"""Agent settings held in the CMDB, applied while the agent runs (the local file bootstraps it).

Two keys are followed, the second overriding the first field by field:

* ``<environment>/oam-agent/config`` — for every agent of the environment;
* ``<environment>/oam-agent/<agent id>`` — for one host.

Each is a JSON object with any of: ``log_paths`` (list of globs), ``multiline_start``
(regex or null), ``scrape_urls`` (list), ``interval`` (seconds), ``collector_urls`` (list).
A value that does not fit is refused with a log line naming it; the rest still applies.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any

log = logging.getLogger("oam.agent.config")

SERVICE = "oam-agent"
FIELDS: dict[str, Any] = {
    "log_paths": list, "scrape_urls": list, "collector_urls": list, "interval": (int, float),
    "multiline_start": (str, type(None)),
}


def validate(doc: Any, where: str) -> dict[str, Any]:
    """The usable fields of a settings document; bad ones are logged and left out."""
    if not isinstance(doc, dict):
        log.error("%s: expected a JSON object, got %s; ignored", where, type(doc).__name__)
        return {}
    good: dict[str, Any] = {}
    for key, value in doc.items():
        kind = FIELDS.get(key)
        if kind is None:
            log.error("%s: unknown setting %r ignored (known: %s)", where, key, ", ".join(FIELDS))
        elif not isinstance(value, kind) or isinstance(value, bool):
            log.error("%s: %s has the wrong type (%s); ignored", where, key, type(value).__name__)
        elif isinstance(value, list) and not all(isinstance(item, str) for item in value):
            log.error("%s: %s must be a list of strings; ignored", where, key)
        elif key == "interval" and value <= 0:
            log.error("%s: interval must be positive; ignored", where)
        elif key == "multiline_start" and value is not None and not _compiles(value):
            log.error("%s: multiline_start is not a valid regular expression; ignored", where)
        elif key == "collector_urls" and not value:
            log.error("%s: collector_urls must not be empty; ignored", where)
        else:
            good[key] = value
    return good


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


class LiveAgentSettings:
    """Collects the two keys' values; ``take()`` hands the merged result to the agent's loop once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._layers: dict[str, dict[str, Any]] = {"environment": {}, "host": {}}
        self._changed = False

    def follow(self, cmdb: Any, environment: str, agent_id: str) -> list[Any]:
        return [cmdb.watch(f"{environment}/{SERVICE}/config", lambda change: self._set("environment", change)),
                cmdb.watch(f"{environment}/{SERVICE}/{agent_id}", lambda change: self._set("host", change))]

    def _set(self, layer: str, change: Any) -> None:
        values = validate(change.value, change.key) if change.exists and change.value is not None else {}
        with self._lock:
            self._layers[layer] = values
            self._changed = True

    def take(self) -> dict[str, Any] | None:
        """The merged settings if they changed since the last call, else None."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            return {**self._layers["environment"], **self._layers["host"]}
