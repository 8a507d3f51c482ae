"""telemetry.runtime_context switches the same context the OpenTelemetry API reads."""
from __future__ import annotations

import logging

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from telemetry import runtime_context


def _span(span_id: int) -> trace.Span:
    return NonRecordingSpan(SpanContext(0x0AF7651916CD43DD8448EB211C80319C, span_id, False, TraceFlags(1)))


def test_attach_and_detach_are_the_api_s_context() -> None:
    outer = _span(1)
    token = runtime_context.attach(runtime_context.with_span(outer, runtime_context.get_current()))
    try:
        assert trace.get_current_span() is outer
        assert otel_context.get_current() is runtime_context.get_current()
        inner = _span(2)
        inner_token = otel_context.attach(trace.set_span_in_context(inner))  # the API's own attach
        assert runtime_context.span_in(runtime_context.get_current()) is inner
        runtime_context.detach(inner_token)
        assert trace.get_current_span() is outer
    finally:
        runtime_context.detach(token)
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_with_span_leaves_the_given_context_alone() -> None:
    base = otel_context.set_value("k", "v")
    made = runtime_context.with_span(_span(3), base)
    assert made.get("k") == "v" and trace.get_current_span(made).get_span_context().span_id == 3
    assert trace.get_current_span(base) is trace.INVALID_SPAN
    assert made[runtime_context.SPAN_KEY] is trace.get_current_span(made)


def test_a_token_from_elsewhere_is_logged_not_raised(caplog) -> None:
    token = runtime_context.attach(runtime_context.get_current())
    runtime_context.detach(token)
    with caplog.at_level(logging.ERROR):
        runtime_context.detach(token)  # used twice: the ContextVar refuses it
    assert "Failed to detach context" in caplog.text
