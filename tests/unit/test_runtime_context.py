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


def test_a_runtime_context_whose_token_is_not_its_contextvars_gets_the_api_functions(monkeypatch) -> None:
    class Wrapped:  # a runtime context named by OTEL_PYTHON_CONTEXT may hand out any token
        def __init__(self, token) -> None:
            self.token = token

    real_attach, real_detach = otel_context.attach, otel_context.detach
    monkeypatch.setattr(otel_context, "attach", lambda context: Wrapped(real_attach(context)))
    monkeypatch.setattr(otel_context, "detach", lambda wrapped: real_detach(wrapped.token))
    assert runtime_context._context_var() is None
    assert trace.get_current_span() is trace.INVALID_SPAN  # the probe left the context as it was


def test_the_default_runtime_context_is_switched_through_its_contextvar() -> None:
    assert runtime_context._context_var() is not None
    assert runtime_context.get_current() is otel_context.get_current()
