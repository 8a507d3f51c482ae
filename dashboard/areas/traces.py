"""Trace lookup: paste a GTX, see a waterfall of every transaction and span with logs and errors inline."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from collector.traces import TraceNotFound, fetch_trace, valid_gtx

from ..auth import require
from .common import es, prefix

bp = Blueprint("traces", __name__)


def _load(gtx: str) -> dict[str, Any]:
    gtx = gtx.strip().lower()
    if not valid_gtx(gtx):
        raise BadRequest(f"not a GTX: {gtx[:64]!r} (expected 32 hex digits, not all zero)")
    try:
        return fetch_trace(es(), gtx, prefix())
    except TraceNotFound as exc:
        raise NotFound(f"no trace {gtx}: {exc}") from None


def _millis(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None


def waterfall(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The trace's nodes in tree order with depth, offset and width (percent of the whole trace),
    and the slowest hop (the largest own time, children's time aside) marked."""
    rows: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        start = _millis(node.get("timestamp"))
        duration = node.get("duration_ms") or 0.0
        child_time = sum(c.get("duration_ms") or 0.0 for c in node["children"] if c["kind"] in ("transaction", "span"))
        rows.append({"node": node, "depth": depth, "start": start, "end": (start or 0) + duration,
                     "self_ms": max(0.0, duration - child_time), "slowest": False})
        for child in node["children"]:
            walk(child, depth + 1)

    for root in trace["roots"]:
        walk(root, 0)
    starts = [r["start"] for r in rows if r["start"] is not None]
    begin = min(starts, default=0.0)
    total = max((r["end"] for r in rows if r["start"] is not None), default=begin) - begin or 1.0
    for row in rows:
        offset = ((row["start"] or begin) - begin) / total * 100
        row["offset_pct"] = round(min(max(offset, 0.0), 100.0), 2)
        width = (row["node"].get("duration_ms") or 0.0) / total * 100
        row["width_pct"] = round(min(max(width, 0.5), 100.0 - row["offset_pct"] + 0.5), 2)
    hops = [r for r in rows if r["node"]["kind"] in ("transaction", "span")]
    if hops:
        max(hops, key=lambda r: r["self_ms"])["slowest"] = True
    return rows


def _summary(trace: dict[str, Any]) -> dict[str, Any]:
    rows = waterfall(trace)
    slowest = next((r["node"] for r in rows if r["slowest"]), None)
    services = sorted({r["node"]["service"] for r in rows if r["node"].get("service")})
    return {"rows": rows, "slowest": slowest, "services": services}


@bp.get("/api/traces/<gtx>")
@require("viewer")
def api(gtx: str) -> Any:
    trace = _load(gtx)
    summary = _summary(trace)
    slowest = summary["slowest"]
    return jsonify(trace_id=trace["trace_id"], counts=trace["counts"], start=trace["start"], end=trace["end"],
                   services=summary["services"], roots=trace["roots"],
                   slowest={"id": slowest["id"], "name": slowest["name"], "service": slowest["service"],
                            "duration_ms": slowest["duration_ms"]} if slowest else None)


@bp.get("/traces")
@require("viewer")
def search() -> Any:
    gtx = request.args.get("gtx", "").strip()
    if gtx:
        return redirect(url_for("traces.page", gtx=gtx))
    return render_template("trace_lookup.html")


@bp.get("/traces/<gtx>")
@require("viewer")
def page(gtx: str) -> Any:
    trace = _load(gtx)
    return render_template("trace.html", trace=trace, **_summary(trace))
