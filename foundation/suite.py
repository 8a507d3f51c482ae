"""What the pieces of the local suite (``oam up``) agree on without importing each other."""
from __future__ import annotations

from pathlib import Path
from typing import Any

ELASTICSEARCH_ADMIN_USER = "oam-admin"
"""The superuser of the suite's own Elasticsearch (file realm); only ``oam up`` and tests use it."""

ELASTICSEARCH_USERS = {"collector": "oam-collector", "dashboard": "oam-dashboard", "retention": "oam-retention",
                      "alerts": "oam-alerts"}
"""Each piece's own Elasticsearch user (native realm, made by ``oam up``); their roles: telemetry.access."""


def elasticsearch_password_file(data_dir: Path, piece: str) -> Path:
    """Where ``oam up`` keeps the Elasticsearch password of ``piece`` (``admin`` or a key of ELASTICSEARCH_USERS)."""
    return Path(data_dir) / "run" / f"elasticsearch-{piece}.password"


def smtp_dir(data_dir: Path) -> Path:
    """The local SMTP server's directory; it delivers the alerts' mail to ``<it>/mailbox`` (a Maildir)."""
    return Path(data_dir) / "smtp"


def elasticsearch_ca_dir(data_dir: Path) -> Path:
    """The suite's CA (``ca.crt``, ``ca.key``, mode 600): it signed the node's HTTP certificate."""
    return Path(data_dir) / "elasticsearch-ca"


def suite_elasticsearch(settings: Any, piece: str) -> dict[str, Any]:
    """The connection table of ``piece`` to the suite's Elasticsearch (``[elasticsearch]`` of the settings)."""
    es = settings.elasticsearch
    ports = [es.port + number for number in range(getattr(es, "nodes", 1))]  # a cluster: every node
    if not es.security:
        return {"hosts": [f"http://{settings.host}:{port}" for port in ports]}
    return {"hosts": [f"https://{settings.host}:{port}" for port in ports], "username": ELASTICSEARCH_USERS[piece],
            "password_file": str(elasticsearch_password_file(settings.data_dir, piece)),
            "ca_file": str(elasticsearch_ca_dir(settings.data_dir) / "ca.crt")}
