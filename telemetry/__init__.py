"""The telemetry contract every piece of the suite keeps.

* :mod:`telemetry.context`: GTX (W3C ``trace.id``) and LTX (``transaction.id``) in contextvars.
* :mod:`telemetry.tracer`: the suite's implementation of the OpenTelemetry tracing API.
* :mod:`telemetry.ecs`: builders for the six kinds of ECS document.
* :mod:`telemetry.templates`: the Elasticsearch index templates and index names per kind.
"""
from .context import (
                      TRACEPARENT,
                      TraceIds,
                      current_ids,
                      format_traceparent,
                      outgoing_headers,
                      parse_traceparent,
                      span,
                      transaction,
)
from .ecs import (
                      KINDS,
                      ServiceInfo,
                      change_event,
                      document_id,
                      error_document,
                      log_document,
                      metric_document,
                      span_document,
                      stable_id,
                      transaction_document,
)
from .templates import index_name, index_pattern, install_templates

__all__ = [
    "TRACEPARENT", "TraceIds", "current_ids", "format_traceparent", "outgoing_headers", "parse_traceparent",
    "span", "transaction", "KINDS", "ServiceInfo", "change_event", "document_id", "error_document",
    "log_document", "metric_document", "span_document", "stable_id", "transaction_document", "index_name",
    "index_pattern", "install_templates",
]
