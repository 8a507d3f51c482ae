"""The OpenTelemetry context of the running code, read and switched without the API's layers.

OpenTelemetry keeps the current context in a ``ContextVar`` behind a runtime-context object;
``get_current``, ``attach`` and ``detach`` each pass through two or three Python functions
to reach it, and transactions and spans use them on every operation. When the runtime context
is the SDK's default (a ``ContextVar``), :data:`get_current` and :data:`attach` are that
variable's own methods and :func:`detach` resets it directly; when ``OTEL_PYTHON_CONTEXT``
names another implementation they are the API's functions. Either way the context is the
one OpenTelemetry instrumentation sees.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace.propagation import _SPAN_KEY  # the key set_span_in_context uses

SPAN_KEY = _SPAN_KEY
"""The key of the current span in a context: ``Context({**context, SPAN_KEY: span})`` is
``trace.set_span_in_context(span, context)`` without its two calls."""

log = logging.getLogger(__name__)


def _context_var() -> ContextVar[Context] | None:
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is ContextVarsRuntimeContext:
        variable = getattr(runtime, "_current_context", None)
        if isinstance(variable, ContextVar):
            return variable
    return None


_CONTEXT_VAR = _context_var()

get_current: Callable[[], Context] = _CONTEXT_VAR.get if _CONTEXT_VAR is not None else otel_context.get_current
"""The current context (``opentelemetry.context.get_current``)."""

attach: Callable[[Context], Any] = _CONTEXT_VAR.set if _CONTEXT_VAR is not None else otel_context.attach
"""Make a context current; returns the token for :func:`detach` (``opentelemetry.context.attach``)."""


reset: Callable[[Any], Any] = _CONTEXT_VAR.reset if _CONTEXT_VAR is not None else otel_context.detach
"""Restore the context ``token`` replaced; with the ``ContextVar`` a token from elsewhere raises
(``ValueError``/``RuntimeError``), where :func:`detach` logs it. For callers that catch it."""


def detach(token: Token[Context] | Any) -> None:
    """Restore the context ``token`` replaced; a token from elsewhere is logged, as the API does."""
    if _CONTEXT_VAR is None:
        otel_context.detach(token)
        return
    try:
        _CONTEXT_VAR.reset(token)
    except Exception:  # pylint: disable=broad-exception-caught
        log.exception("Failed to detach context")


def with_span(span: trace.Span, context: Context) -> Context:
    """A copy of ``context`` with ``span`` current (``trace.set_span_in_context``)."""
    values = dict(context)
    values[_SPAN_KEY] = span
    return Context(values)


def span_in(context: Context) -> trace.Span:
    """The span current in ``context`` (``trace.get_current_span``)."""
    span = context.get(_SPAN_KEY)
    return span if isinstance(span, trace.Span) else trace.INVALID_SPAN
