"""The app agent's hot paths read a SpanContext by position (it is a tuple, declared as
``Tuple[int, int, bool, TraceFlags, TraceState, bool]`` by opentelemetry-api); this pins that
layout against the installed API, so a release that reorders it fails here, not in production."""
from __future__ import annotations

from opentelemetry.trace import SpanContext, TraceFlags, TraceState


def test_a_span_context_is_the_tuple_the_agent_reads_by_position():
    state = TraceState([("vendor", "abc")])
    context = SpanContext(trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7, is_remote=True,
                          trace_flags=TraceFlags(0x01), trace_state=state)
    assert isinstance(context, tuple) and len(context) == 6
    assert context[0] == context.trace_id and context[1] == context.span_id
    assert context[2] is context.is_remote is True
    assert context[3] == context.trace_flags == 0x01
    assert context[4] is context.trace_state is state
    assert context[5] is context.is_valid is True
    invalid = SpanContext(trace_id=0, span_id=0, is_remote=False)
    assert invalid[5] is invalid.is_valid is False
