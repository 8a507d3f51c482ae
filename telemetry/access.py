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
* :data:`READER` — the dashboard (and alert evaluators): searches and aggregations (``read``),
  and the cluster health its overview shows (``monitor``). It cannot write.
* :data:`RETENTION` — ``collector/indices.py``'s ``apply_retention``: lists the daily indices
  (``view_index_metadata``) and deletes expired ones by name (``delete_index``). It cannot read
  or write a document.
"""
from __future__ import annotations

from typing import Any

COLLECTOR = "oam_collector"
READER = "oam_reader"
RETENTION = "oam_retention"


def roles(patterns: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each role's body for ``PUT /_security/role/<name>``, on the index ``patterns`` (default ``oam-*``)."""
    def on_indices(*privileges: str) -> list[dict[str, list[str]]]:
        return [{"names": list(patterns or ["oam-*"]), "privileges": list(privileges)}]  # no shared lists (YAML)

    return {
        COLLECTOR: {"cluster": ["monitor", "manage_index_templates"],
                    "indices": on_indices("create_doc", "auto_configure", "read")},
        READER: {"cluster": ["monitor"], "indices": on_indices("read")},
        RETENTION: {"cluster": [], "indices": on_indices("view_index_metadata", "delete_index")},
    }
