"""The app agent's spans and the OpenTelemetry SDK, both ways: the one module that needs the SDK.

* :class:`SdkSpanExport` hands the agent's spans to an SDK span processor, so any SDK exporter
  (the OTLP exporter, for instance) gets them::

      from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
      from opentelemetry.sdk.trace.export import BatchSpanProcessor
      agent.provider.add_span_processor(SdkSpanExport(BatchSpanProcessor(OTLPSpanExporter()), agent.service))

* :class:`TransactionIdProcessor` and :class:`EcsFileSpanExporter` are for a service that runs
  the SDK's own ``TracerProvider``: the LTX on its spans, and the agent's span lines from them.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span
from opentelemetry.sdk.trace import SpanProcessor as SdkSpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from telemetry.context import TRANSACTION_ID, current_transaction_id
from telemetry.ecs import ServiceInfo
from telemetry.tracer import RecordedSpan, SpanProcessor

from .encoding import LineEncoder
from .lines import span_line
from .spans import span_record


def service_resource(service: ServiceInfo) -> Resource:
    """The SDK resource of ``service`` (``service.name``, ``service.version``, ``deployment.environment``)."""
    return Resource.create({"service.name": service.name, "service.version": service.version,
                            "deployment.environment": service.environment})


def readable_span(span: RecordedSpan, resource: Resource) -> ReadableSpan:
    """``span`` as the SDK's ``ReadableSpan`` (what SDK processors and exporters take)."""
    name, version, schema_url = span.instrumentation_scope
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=resource,
        attributes=dict(span.attributes),
        events=[Event(event.name, event.attributes, event.timestamp) for event in span.events],
        links=list(span.links), kind=span.kind, status=span.status, start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=InstrumentationScope(name, version, schema_url))


class SdkSpanExport(SpanProcessor):
    """Gives each finished span of the agent's tracer, as a ``ReadableSpan``, to an SDK span processor."""

    def __init__(self, processor: SdkSpanProcessor, service: ServiceInfo | None = None,
                 resource: Resource | None = None) -> None:
        self.processor = processor
        self.resource = resource or (service_resource(service) if service is not None else Resource.create())

    def on_end(self, span: RecordedSpan) -> None:
        self.processor.on_end(readable_span(span, self.resource))

    def shutdown(self) -> None:
        self.processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.processor.force_flush(timeout_millis)


class TransactionIdProcessor(SdkSpanProcessor):
    """Records the current LTX on every span of an SDK ``TracerProvider`` that is not itself a transaction."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if TRANSACTION_ID in (span.attributes or {}):  # telemetry.span() gives it from the start
            return
        parent = span.parent
        if parent is None or parent.is_remote:
            return
        ltx = current_transaction_id()
        if ltx:
            span.set_attribute(TRANSACTION_ID, ltx)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class EcsFileSpanExporter(SpanExporter):
    """Appends each finished SDK span as one ECS JSON line (with ``_kind``) to ``path``.

    Use it behind a ``BatchSpanProcessor`` so the writes happen off the request thread.
    """

    def __init__(self, path: Path, service: ServiceInfo) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.service = service
        self._encoder = LineEncoder(service)
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")  # closed by shutdown()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        with self._lock:  # the encoder is for one thread at a time
            if self._file.closed:
                return SpanExportResult.FAILURE
            lines = [span_line(span_record(span), self._encoder) for span in spans]
            try:
                self._file.write(b"\n".join(lines) + b"\n")
                self._file.flush()
            except OSError:  # a full or vanished disk: the SDK's processor logs the failure and goes on
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
