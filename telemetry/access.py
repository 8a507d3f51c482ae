"""Who may do what on the suite's indices: one least-privilege Elasticsearch role per piece.

Usage: the bodies are those of ``PUT /_security/role/<name>`` and of a ``roles.yml`` entry alike::

    ElasticsearchServer(..., roles=roles(["oam-*"]),
                        users={"oam-collector": (password, COLLECTOR), "oam-dashboard": (password, READER)})

The privileges are what each piece's code calls, no more:

* :data:`COLLECTOR` — ``collector/service.py`` asks cluster health at start (``monitor``);
  ``collector/indices.py`` installs component and index templates (``manage_index_templates``);
  ``collector/sink.py`` bulk-creates documents with op_type ``create`` into daily indices that
  the first document creates, its new fields mapped dynamically (``create_doc``, ``auto_configure``); ``collector/traces.py`` searches
  a trace (``read``). It cannot delete a document or an index, nor touch another index.
* :data:`READER` — the dashboard: searches and aggregations (``read``),
  and the cluster health its overview shows (``monitor``). It cannot write.
* :data:`ALERTS` — the alert evaluator (``alerts/``): what :data:`READER` may, and
  ``alerts/history.py``'s bulk ``create`` of transition documents into the daily alert-history
  indices (``<prefix>-alerts-*`` only; ``create_doc``, ``auto_configure``). It cannot change or
  delete a document, nor write any other index.
* :data:`RETENTION` — ``collector/indices.py``'s ``apply_retention``: lists the daily indices
  (``view_index_metadata``) and deletes expired ones by name (``delete_index``). It cannot read
  or write a document.
"""
from __future__ import annotations

from typing import Any

COLLECTOR = "oam_collector"
READER = "oam_reader"
RETENTION = "oam_retention"
ALERTS = "oam_alerts"


def alert_patterns(patterns: list[str]) -> list[str]:
    """The alert-history indices inside the index ``patterns``: ``oam-*`` -> ``oam-alerts-*``,
    ``oam*`` -> ``oam*-alerts-*``."""
    out = []
    for pattern in patterns:
        base = pattern[:-1] if pattern.endswith("*") else pattern
        out.append(f"{base}alerts-*" if base.endswith("-") else f"{base}*-alerts-*")
    return out


def roles(patterns: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each role's body for ``PUT /_security/role/<name>``, on the index ``patterns`` (default ``oam-*``)."""
    def on_indices(*privileges: str) -> list[dict[str, list[str]]]:
        return [{"names": list(patterns or ["oam-*"]), "privileges": list(privileges)}]  # no shared lists (YAML)

    return {
        COLLECTOR: {"cluster": ["monitor", "manage_index_templates"],
                    "indices": on_indices("create_doc", "auto_configure", "read")},
        READER: {"cluster": ["monitor"], "indices": on_indices("read")},
        RETENTION: {"cluster": [], "indices": on_indices("view_index_metadata", "delete_index")},
        ALERTS: {"cluster": ["monitor"],
                 "indices": [*on_indices("read"), {"names": alert_patterns(list(patterns or ["oam-*"])),
                                                   "privileges": ["create_doc", "auto_configure"]}]},
    }
