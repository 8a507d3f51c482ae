"""The suite's tracer keeps the OpenTelemetry API's contract, and SDK exporters still get its spans."""
from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace import SpanLimits as SdkSpanLimits
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Link, SpanKind, StatusCode

from agents.app.sdk_export import SdkSpanExport
from telemetry.ecs import ServiceInfo
from telemetry.tracer import Provider, RecordedSpan, SpanLimits, SpanProcessor


class Finished(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []

    def on_end(self, span: RecordedSpan) -> None:
        self.spans.append(span)


def _pipeline(**options) -> tuple[trace.Tracer, Finished]:
    provider = Provider(**options)
    finished = Finished()
    provider.add_span_processor(finished)
    return provider.get_tracer("test"), finished


def test_it_is_the_api_and_the_api_sees_its_spans():
    tracer, finished = _pipeline()
    assert isinstance(tracer.start_span("x"), trace.Span) and isinstance(tracer, trace.Tracer)
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER, attributes={"http.method": "GET"}) as root:
        assert trace.get_current_span() is root
        carrier: dict[str, str] = {}
        inject(carrier)  # the API's global W3C propagator reads the current span
        ctx = root.get_span_context()
        assert carrier["traceparent"].startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")
        with tracer.start_as_current_span("shard-1 SELECT") as child:
            assert child.parent == ctx and child.context.trace_id == ctx.trace_id
    assert trace.get_current_span() is trace.INVALID_SPAN
    child_done, root_done = finished.spans
    assert child_done is child and root_done is root and root.parent is None and root.kind is SpanKind.SERVER
    assert root.attributes == {"http.method": "GET"} and root.end_time >= root.start_time > 0


def test_an_exception_is_recorded_and_fails_the_span():
    tracer, finished = _pipeline()
    try:
        with tracer.start_as_current_span("shard-1 SELECT"):
            raise TimeoutError("shard 1 is slow")
    except TimeoutError:
        pass
    (span,) = finished.spans
    assert span.status.status_code is StatusCode.ERROR
    (event,) = span.events
    assert event.name == "exception" and event.attributes["exception.type"] == "TimeoutError"
    assert "shard 1 is slow" in event.attributes["exception.stacktrace"]


def test_status_ok_is_final_and_unset_changes_nothing():
    tracer, _ = _pipeline()
    span = tracer.start_span("s")
    span.set_status(StatusCode.UNSET)
    assert span.status.status_code is StatusCode.UNSET
    span.set_status(StatusCode.ERROR, "broken")
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "broken"
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR)
    assert span.status.status_code is StatusCode.OK


def test_attribute_limits_and_cleaning_match_the_sdk():
    def after_edits(tracer: trace.Tracer) -> dict:
        with tracer.start_as_current_span("s", attributes={"a": "abcdefgh", "": 1}) as span:
            span.set_attribute("b", [1, 2])
            span.set_attribute("c", {"nested": "value"})
            span.set_attribute("d", object())
            span.set_attribute("e", True)  # the oldest makes room
        span.set_attribute("f", 1)  # ended: refused
        return span

    tracer, _ = _pipeline(limits=SpanLimits(max_attributes=3, max_attribute_length=4))
    ours = after_edits(tracer)
    exporter = InMemorySpanExporter()
    sdk = TracerProvider(sampler=ALWAYS_ON, shutdown_on_exit=False,
                         span_limits=SdkSpanLimits(max_span_attributes=3, max_span_attribute_length=4))
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    after_edits(sdk.get_tracer("test"))
    (theirs,) = exporter.get_finished_spans()
    # which values are valid is the API's (a mapping is one from opentelemetry-api 1.3x on)
    assert ours.attributes == dict(theirs.attributes) and len(ours.attributes) == 3
    assert list(ours.attributes)[-1] == "e" and ours.attributes.get("a", "abcd") == "abcd"  # cut to 4
    assert ours.dropped_attributes == 3  # "", "d", and "c" (invalid) or "a" (the oldest, made room)


def test_plain_values_are_kept_as_given_and_sequences_become_tuples():
    tracer, finished = _pipeline()
    with tracer.start_as_current_span("s", attributes={"n": 1, "f": 0.5, "ok": False}) as span:
        span.set_attribute("n", 2)
        span.set_attributes({"tags": ["x", "y"]})
    assert finished.spans[0].attributes == {"n": 2, "f": 0.5, "ok": False, "tags": ("x", "y")}


def test_links_are_kept():
    tracer, finished = _pipeline()
    with tracer.start_as_current_span("first") as first:
        pass
    with tracer.start_as_current_span("linked", links=[Link(first.get_span_context())]):
        pass
    assert [link.context.span_id for link in finished.spans[-1].links] == [first.get_span_context().span_id]


def test_a_span_ends_once_and_refuses_changes_after(caplog):
    tracer, finished = _pipeline()
    span = tracer.start_span("once")
    span.end()
    with caplog.at_level(logging.WARNING, logger="telemetry.tracer"):
        span.end()
        span.update_name("other")
    assert len(finished.spans) == 1 and span.name == "once" and not span.is_recording()
    assert "ended span" in caplog.text


def test_spans_carry_the_ltx_the_provider_is_given_but_a_transaction_does_not():
    tracer, finished = _pipeline(transaction_id=lambda: "00f067aa0ba902b7")
    with tracer.start_as_current_span("GET /") as root:
        with tracer.start_as_current_span("redis GET"):
            pass
    child, _ = finished.spans
    assert child.attributes == {"transaction.id": "00f067aa0ba902b7"}
    assert "transaction.id" not in root.attributes


def test_on_start_is_called_only_for_processors_that_have_one():
    started: list[str] = []

    class Starting(SpanProcessor):
        def on_start(self, span, parent_context=None):
            started.append(span.name)

    provider = Provider()
    provider.add_span_processor(Finished())
    provider.add_span_processor(Starting())
    assert len(provider.on_start_calls) == 1
    provider.get_tracer("t").start_span("s").end()
    assert started == ["s"]


def test_sdk_exporters_get_the_spans_as_readable_spans():
    exporter = InMemorySpanExporter()
    provider = Provider()
    provider.add_span_processor(SdkSpanExport(SimpleSpanProcessor(exporter), ServiceInfo("orders", "1.0")))
    tracer = provider.get_tracer("oam.test", "1.2")
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER) as root:
        with tracer.start_as_current_span("shard-1 SELECT", attributes={"labels.shard": 1}) as child:
            child.add_event("retry", {"attempt": 2})
            child.set_status(StatusCode.ERROR, "slow")
    exported_child, exported_root = exporter.get_finished_spans()
    assert isinstance(exported_child, ReadableSpan)
    assert exported_root.resource.attributes["service.name"] == "orders"
    assert exported_root.instrumentation_scope.name == "oam.test" and exported_root.kind is SpanKind.SERVER
    assert exported_child.parent.span_id == root.get_span_context().span_id
    assert exported_child.context == child.get_span_context() and dict(exported_child.attributes) == {"labels.shard": 1}
    assert exported_child.status.status_code is StatusCode.ERROR
    assert [(e.name, dict(e.attributes)) for e in exported_child.events] == [("retry", {"attempt": 2})]
    assert exported_child.to_json()  # what exporters serialise works on it

