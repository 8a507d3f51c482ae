"""Everything that happened under one GTX, as a tree built from ``parent.id``.

Transactions and spans are the nodes (keyed by ``span.id``; a transaction's ``span.id`` is its
``transaction.id``); logs and errors hang under the span (or else the transaction) they were
emitted in. Children are ordered by time; a node whose parent is unknown is a root.
"""
from __future__ import annotations

import re
from typing import Any

from telemetry.ecs import lookup
from telemetry.templates import index_pattern

GTX = re.compile(r"[0-9a-f]{32}")
TRACE_KINDS = ("transactions", "spans", "logs", "errors")
MAX_DOCUMENTS = 10_000


class TraceNotFound(LookupError):
    pass


def valid_gtx(gtx: str) -> bool:
    """32 lowercase hex digits, not all zero, and nothing else (no trailing newline)."""
    return bool(GTX.fullmatch(gtx)) and gtx != "0" * 32


def _kind(index: str) -> str:
    for kind in TRACE_KINDS:
        if f"-{kind}-" in index:
            return kind
    return "unknown"


def _node(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    duration_ns = lookup(doc, "event.duration")
    if kind == "transactions":
        name = lookup(doc, "transaction.name")
    elif kind == "spans":
        name = lookup(doc, "span.name")
    elif kind == "errors":
        name = f"{lookup(doc, 'error.type') or 'error'}: {lookup(doc, 'error.message') or ''}"
    else:
        name = f"[{lookup(doc, 'log.level') or 'log'}] {lookup(doc, 'message') or ''}"
    return {
        "kind": kind.rstrip("s") if kind != "unknown" else kind,
        "id": lookup(doc, "span.id") if kind in ("transactions", "spans") else (lookup(doc, "error.id") or None),
        "name": name,
        "service": lookup(doc, "service.name"),
        "timestamp": doc.get("@timestamp"),
        "duration_ms": round(duration_ns / 1e6, 3) if isinstance(duration_ns, (int, float)) else None,
        "outcome": lookup(doc, "event.outcome"),
        "document": doc,
        "children": [],
    }


def build_tree(hits: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """``(kind, source)`` pairs to root nodes, each with ordered ``children``."""
    nodes: dict[str, dict[str, Any]] = {}
    ordered: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for kind, doc in hits:
        node = _node(kind, doc)
        ordered.append((kind, doc, node))
        if kind in ("transactions", "spans") and node["id"]:
            nodes.setdefault(node["id"], node)
    roots: list[dict[str, Any]] = []
    for kind, doc, node in ordered:
        if kind in ("transactions", "spans"):
            if nodes.get(node["id"]) is not node:
                continue  # the same span twice (e.g. sent through two paths): keep one
            parent = nodes.get(lookup(doc, "parent.id") or "")
        else:
            parent = nodes.get(lookup(doc, "span.id") or "") or nodes.get(lookup(doc, "transaction.id") or "")
        if parent is not None and parent is not node:
            parent["children"].append(node)
        else:
            roots.append(node)

    def order(items: list[dict[str, Any]]) -> None:
        items.sort(key=lambda item: str(item["timestamp"] or ""))
        for item in items:
            order(item["children"])

    order(roots)
    return roots


def fetch_trace(client: Any, gtx: str, prefix: str = "oam") -> dict[str, Any]:
    """Query every trace kind for ``trace.id == gtx``; raises :class:`TraceNotFound` if none."""
    indices = ",".join(index_pattern(kind, prefix) for kind in TRACE_KINDS)
    response = client.search(index=indices, query={"term": {"trace.id": gtx}}, size=MAX_DOCUMENTS,
                             sort=[{"@timestamp": {"order": "asc", "unmapped_type": "date"}}],
                             ignore_unavailable=True, allow_no_indices=True)
    hits = [(_kind(hit["_index"]), hit["_source"]) for hit in response["hits"]["hits"]]
    if not hits:
        raise TraceNotFound(f"no documents with trace.id {gtx}")
    counts: dict[str, int] = {}
    for kind, _doc in hits:
        counts[kind] = counts.get(kind, 0) + 1
    roots = build_tree(hits)
    stamps = [str(doc.get("@timestamp")) for _kind_, doc in hits if doc.get("@timestamp")]
    return {"trace_id": gtx, "counts": counts, "start": min(stamps, default=None), "end": max(stamps, default=None),
            "roots": roots}


def render_tree(trace: dict[str, Any]) -> list[str]:
    """Terminal lines: one per node, indented by depth, with kind, service and duration."""
    lines = [f"trace {trace['trace_id']}  ({', '.join(f'{n} {k}' for k, n in sorted(trace['counts'].items()))})"]

    def walk(node: dict[str, Any], prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        duration = f"  {node['duration_ms']:.3f} ms" if node.get("duration_ms") is not None else ""
        service = f"  [{node['service']}]" if node.get("service") else ""
        outcome = "  FAILED" if node.get("outcome") == "failure" else ""
        lines.append(f"{prefix}{branch}{node['kind']}: {node['name']}{service}{duration}{outcome}")
        children = node.get("children", [])
        for index, child in enumerate(children):
            walk(child, prefix + ("   " if last else "│  "), index == len(children) - 1)

    roots = trace.get("roots", [])
    for index, root in enumerate(roots):
        walk(root, "", index == len(roots) - 1)
    return lines
