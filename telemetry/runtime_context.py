"""The OpenTelemetry context of the running code, read and switched with as few Python calls as can be.

The context switched here is the one every OpenTelemetry instrumentation reads. The API's
``get_current``, ``attach`` and ``detach`` each pass through two Python functions to reach it,
and transactions and spans use them on every operation. The API's default runtime context
keeps the context in a ``ContextVar``, and ``attach`` returns that variable's
``contextvars.Token``, whose public ``var`` is the variable itself. When a probe at import finds
exactly that (the token's variable holds what ``get_current`` returns, and resetting it restores
the API's context), :data:`get_current`, :data:`attach` and :data:`reset` are the variable's own
C methods; otherwise (another runtime context named by ``OTEL_PYTHON_CONTEXT``) they are the
API's functions. Either way it is the same context.

A ``Context`` is an immutable ``dict``; :data:`SPAN_KEY` is the key ``trace.set_span_in_context``
files the current span under, learned from that function at import, so that the spans of every
request become current with one C-made dict (``Context({**context, SPAN_KEY: span})``) rather
than the two Python calls of ``set_span_in_context``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

log = logging.getLogger(__name__)


def _context_var() -> ContextVar[Context] | None:
    """The ``ContextVar`` the API's runtime context keeps the context in, if :func:`attach`'s token shows it."""
    before = otel_context.get_current()
    probe = Context(before)
    token = otel_context.attach(probe)
    try:
        variable = token.var if isinstance(token, Token) else None
        if not isinstance(variable, ContextVar) or variable.get() is not probe:
            return None
    finally:
        otel_context.detach(token)
    return variable if otel_context.get_current() is before else None


_CONTEXT_VAR = _context_var()

get_current: Callable[[], Context] = _CONTEXT_VAR.get if _CONTEXT_VAR is not None else otel_context.get_current
"""The current context (``opentelemetry.context.get_current``)."""

attach: Callable[[Context], Any] = _CONTEXT_VAR.set if _CONTEXT_VAR is not None else otel_context.attach
"""Make a context current; returns the token for :func:`detach` (``opentelemetry.context.attach``)."""

reset: Callable[[Any], Any] = _CONTEXT_VAR.reset if _CONTEXT_VAR is not None else otel_context.detach
"""Restore the context ``token`` replaced; with the ``ContextVar`` a token from elsewhere raises
(``ValueError``/``RuntimeError``), where :func:`detach` logs it. For callers that catch it."""


def detach(token: Any) -> None:
    """Restore the context ``token`` replaced; a token from elsewhere is logged, as the API does."""
    if _CONTEXT_VAR is None:
        otel_context.detach(token)
        return
    try:
        _CONTEXT_VAR.reset(token)
    except Exception:  # a foreign token: logged, as the OpenTelemetry API does
        log.exception("Failed to detach context")


def _span_key() -> str:
    """The one key ``trace.set_span_in_context`` adds to an empty context, checked against ``get_current_span``."""
    probe = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    keys = list(trace.set_span_in_context(probe, Context()))
    if len(keys) != 1 or trace.get_current_span(Context({keys[0]: probe})) is not probe:
        raise ImportError("opentelemetry-api: trace.set_span_in_context no longer files the span under one "
                          f"context key (it added {keys!r}); telemetry.runtime_context needs updating")
    return keys[0]


SPAN_KEY = _span_key()
"""The key of the current span in a context: ``Context({**context, SPAN_KEY: span})`` is
``trace.set_span_in_context(span, context)``."""


def with_span(span: trace.Span, context: Context) -> Context:
    """A copy of ``context`` with ``span`` current (``trace.set_span_in_context``)."""
    return Context({**context, SPAN_KEY: span})


def span_in(context: Context) -> trace.Span:
    """The span current in ``context`` (``trace.get_current_span``)."""
    span = context.get(SPAN_KEY)
    return span if isinstance(span, trace.Span) else trace.INVALID_SPAN
