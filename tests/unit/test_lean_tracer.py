"""The agent's tracer keeps the SDK's contract: exporters, limits, samplers, links, exceptions."""
from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import Link, SpanKind, StatusCode

from agents.app.tracer import LeanSpan, LeanTracerProvider


def _pipeline(**options) -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = LeanTracerProvider(sampler=options.pop("sampler", ALWAYS_ON), shutdown_on_exit=False, **options)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def test_the_sdk_exporter_gets_parent_attributes_status_and_exception_events():
    tracer, exporter = _pipeline()
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER, attributes={"http.method": "GET"}) as root:
        try:
            with tracer.start_as_current_span("shard-1 SELECT", attributes={"labels.shard": 1}):
                raise TimeoutError("shard 1 is slow")
        except TimeoutError:
            pass
    child, parent = exporter.get_finished_spans()
    assert isinstance(root, LeanSpan) and isinstance(child, ReadableSpan)
    assert parent.name == "GET /orders" and parent.parent is None and parent.kind is SpanKind.SERVER
    assert dict(parent.attributes) == {"http.method": "GET"}
    assert child.parent.span_id == parent.context.span_id and child.context.trace_id == parent.context.trace_id
    assert child.status.status_code is StatusCode.ERROR
    (event,) = child.events
    assert event.name == "exception" and event.attributes["exception.type"] == "TimeoutError"
    assert child.end_time >= child.start_time > 0


def _attributes_after_edits(provider_class: type[TracerProvider]) -> tuple[dict, int]:
    exporter = InMemorySpanExporter()
    provider = provider_class(sampler=ALWAYS_ON, shutdown_on_exit=False,
                              span_limits=SpanLimits(max_span_attributes=3, max_span_attribute_length=4))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("s", attributes={"a": "abcdefgh", "": 1}) as span:
        span.set_attribute("b", [1, 2])
        span.set_attribute("c", {"nested": "value"})
        span.set_attribute("d", object())
        span.set_attribute("e", True)  # the oldest makes room
    span.set_attribute("f", 1)  # ended: refused
    (done,) = exporter.get_finished_spans()
    return dict(done.attributes), done.dropped_attributes


def test_attribute_limits_and_cleaning_are_the_sdks():
    assert _attributes_after_edits(LeanTracerProvider) == _attributes_after_edits(TracerProvider)
    attributes, dropped = _attributes_after_edits(LeanTracerProvider)
    assert list(attributes)[-1] == "e" and "a" not in attributes and dropped == 3  # "", "a", "b" dropped


def test_values_kept_as_given_without_limits():
    tracer, exporter = _pipeline()
    with tracer.start_as_current_span("s", attributes={"n": 1, "f": 0.5, "ok": False}) as span:
        span.set_attribute("n", 2)
        span.set_attributes({"tags": ["x", "y"]})
    (done,) = exporter.get_finished_spans()
    assert dict(done.attributes) == {"n": 2, "f": 0.5, "ok": False, "tags": ("x", "y")}


def test_other_samplers_and_links_take_the_sdks_own_path():
    tracer, exporter = _pipeline(sampler=ALWAYS_OFF)
    with tracer.start_as_current_span("dropped") as span:
        assert not span.is_recording()
    assert exporter.get_finished_spans() == ()

    tracer, exporter = _pipeline()
    with tracer.start_as_current_span("first") as first:
        pass
    with tracer.start_as_current_span("linked", links=[Link(first.get_span_context())]):
        pass
    linked = exporter.get_finished_spans()[-1]
    assert [link.context.span_id for link in linked.links] == [first.get_span_context().span_id]


def test_a_span_ends_once():
    tracer, exporter = _pipeline()
    span = tracer.start_span("once")
    span.end()
    span.end()
    assert len(exporter.get_finished_spans()) == 1
