"""OTLP/HTTP ``/v1/metrics``: sums, gauges and histograms as ECS metric documents.

One document per data point, in the metrics index, as the host agent's are: the resource's
fields (:mod:`collector.otlp_ecs`), the point's attributes as labels, and the value under the
metric's own dotted name (``orders.paid: 3``). A histogram (or exponential histogram) point
gives ``<name>.count``, ``<name>.sum`` and, when sent, ``<name>.min`` and ``<name>.max``; an
explicit-bucket one also ``<name>.buckets.counts`` with ``<name>.buckets.bounds`` (the upper
bounds). A summary gives ``<name>.count`` and ``<name>.sum``. Each point is checked on its own;
a bad one is rejected with a reason (``rejectedDataPoints``) and the rest kept.
"""
from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from telemetry.ecs import stable_id, timestamp, to_nested

from .decode import Action, document_action
from .limits import DEFAULT_LIMITS, Bounds
from .otlp import Export, Layout, attributes, nano_timestamp, register_layout, request_actions, resource_of
from .otlp_ecs import label_key

register_layout(ExportMetricsServiceRequest, Layout("metric", Metric, ("resourceMetrics", "scopeMetrics", "metrics"),
                                                     ("resource_metrics", "scope_metrics", "metrics")))


def _number(point: Any) -> float | int:
    return point.as_double if point.WhichOneof("value") == "as_double" else point.as_int


def _values(metric: Metric) -> list[tuple[Any, dict[str, Any]]]:
    """``(point, {field suffix: value})`` for each data point of ``metric``."""
    which = metric.WhichOneof("data")
    if which in ("sum", "gauge"):
        return [(point, {"": _number(point)}) for point in getattr(metric, which).data_points]
    out = []
    if which in ("histogram", "exponential_histogram"):
        for point in getattr(metric, which).data_points:
            values: dict[str, Any] = {".count": point.count, ".sum": point.sum if point.HasField("sum") else None,
                                      ".min": point.min if point.HasField("min") else None,
                                      ".max": point.max if point.HasField("max") else None}
            if which == "histogram" and point.bucket_counts:
                values[".buckets.counts"] = list(point.bucket_counts)
                values[".buckets.bounds"] = list(point.explicit_bounds)
            out.append((point, values))
    elif which == "summary":
        out = [(point, {".count": point.count, ".sum": point.sum}) for point in metric.summary.data_points]
    return out


def _labels(point_attrs: dict[str, Any]) -> dict[str, Any]:
    return {label_key(key): value if isinstance(value, (str, bool, int, float)) else json.dumps(value, default=str)
            for key, value in point_attrs.items() if value is not None}


def metric_actions(request: ExportMetricsServiceRequest, prefix: str = "oam", bounds: Bounds | None = None) -> Export:
    """A metric document per data point in the export; a reason for each point refused."""
    bounds = bounds or DEFAULT_LIMITS.at()
    export = Export()
    for resource_metrics in request.resource_metrics:
        resource = resource_of(attributes(resource_metrics.resource.attributes))
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for number, (point, values) in enumerate(_values(metric), start=1):
                    try:
                        export.actions.append(_point_action(metric, point, values, resource, prefix, bounds))
                    except ValueError as exc:
                        export.rejected.append(f"metric {metric.name[:100]!r} point {number}: {exc}")
    return export


def _point_action(metric: Metric, point: Any, values: dict[str, Any], resource: Any, prefix: str,
                  bounds: Bounds) -> Action:
    if not metric.name:
        raise ValueError("a metric needs a name")
    bounds.check_size(point.ByteSize(), "data point")
    point_attrs = attributes(point.attributes)
    nanos = point.time_unix_nano
    own = {"@timestamp": nano_timestamp(nanos) if nanos else timestamp(), "event.dataset": "otlp.metric", "event.kind": "metric",
           **{f"{metric.name}{suffix}": value for suffix, value in values.items() if value is not None}}
    doc = to_nested({**resource.fields, **own})
    labels = {**resource.labels, **_labels(point_attrs)}
    if metric.unit:
        labels["unit"] = metric.unit
    if labels:
        doc["labels"] = labels
    doc_id = stable_id("otlp-metric", json.dumps(resource.fields, sort_keys=True), metric.name,
                       json.dumps(point_attrs, sort_keys=True, default=str), nanos)
    return document_action(doc, "metrics", doc_id, prefix, bounds)


def metric_request_actions(data: bytes, content_type: str | None, prefix: str = "oam",
                           bounds: Bounds | None = None) -> Export:
    """``/v1/metrics``: the actions of the export's data points and a reason per rejected point."""
    return request_actions(ExportMetricsServiceRequest, metric_actions, data, content_type, prefix, bounds)
