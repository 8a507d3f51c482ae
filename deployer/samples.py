"""What a group of hosts did in a window, read from Elasticsearch for the canary verdict.

Three requests per group, none loading whole documents: the transactions' count with a
``filter`` aggregation of the failed ones (``event.outcome: failure``), a bounded random sample
of ``event.duration`` (doc values only, at most ``max_durations``: what Mann-Whitney needs) and a
``terms`` aggregation of the errors' ``error.grouping_key``. Hosts are told apart by
``host.name`` (the deploy configuration's host names); ``version`` keeps the new side to the
requests the new release answered.

Usage::

    reader = TelemetryReader(Elasticsearch("http://127.0.0.1:9200"), prefix="oam")
    sample = reader.sample("backend", ["web1"], start, end, version="4.0.0")
    reader.seconds      # Elasticsearch time of the queries so far (its "took")
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telemetry.templates import index_pattern

from .analysis import Sample

SEARCH_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
ERROR_GROUPS = 200  # distinct groups read per side


class TelemetryUnavailable(RuntimeError):
    """Elasticsearch could not be read; the message says why (for an inconclusive verdict)."""


class TelemetryReader:
    """Reads :class:`~deployer.analysis.Sample` figures of hosts in a time window."""

    def __init__(self, client: Any, prefix: str = "oam", max_durations: int = 2000) -> None:
        self.client = client
        self.prefix = prefix
        self.max_durations = max_durations
        self.seconds = 0.0  # Elasticsearch's own time ("took") of every query made

    def _search(self, **body: Any) -> dict[str, Any]:
        try:
            response = self.client.search(**body, **SEARCH_OPTIONS)
        except Exception as exc:  # noqa: BLE001 - connection, auth, timeout: all make the verdict inconclusive
            raise TelemetryUnavailable(f"Elasticsearch unreachable: {type(exc).__name__}: {str(exc)[:200]}") from exc
        self.seconds += response.get("took", 0) / 1000
        return response

    def sample(self, service: str, hosts: Sequence[str], start: datetime, end: datetime,
               version: str | None = None) -> Sample:
        """Requests, failed requests, some durations (ms) and error groups of ``hosts`` in [start, end)."""
        filters: list[dict[str, Any]] = [
            {"term": {"service.name": service}}, {"terms": {"host.name": list(hosts)}},
            {"range": {"@timestamp": {"gte": start.isoformat(), "lt": end.isoformat()}}}]
        if version is not None:
            filters.append({"term": {"service.version": version}})
        query = {"bool": {"filter": filters}}
        tx = self._search(
            index=index_pattern("transactions", self.prefix), size=self.max_durations, track_total_hits=True,
            query={"function_score": {"query": query, "random_score": {"seed": 19, "field": "_seq_no"},
                                      "boost_mode": "replace"}},
            source=False, docvalue_fields=["event.duration"],
            aggs={"failed": {"filter": {"term": {"event.outcome": "failure"}}}})
        durations = [hit["fields"]["event.duration"][0] / 1e6 for hit in tx["hits"]["hits"]
                     if hit.get("fields", {}).get("event.duration")]
        errors = self._search(index=index_pattern("errors", self.prefix), size=0, query=query,
                              aggs={"groups": {"terms": {"field": "error.grouping_key", "size": ERROR_GROUPS}}})
        groups = {b["key"]: b["doc_count"] for b in errors.get("aggregations", {}).get("groups", {}).get("buckets", [])}
        return Sample(requests=tx["hits"]["total"]["value"], errors=tx["aggregations"]["failed"]["doc_count"],
                      durations_ms=durations, error_groups=groups, hosts=tuple(hosts))
