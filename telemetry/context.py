"""GTX and LTX: the trace id that follows a request across services, and the unit of work in one.

* GTX = W3C trace-context trace id (``trace.id``, 32 lowercase hex), carried in the
  ``traceparent`` header on HTTP and in the same field inside queued jobs.
* LTX = ``transaction.id`` (16 hex): the id of the local root span of one request or job.

Both live in :mod:`contextvars` through the OpenTelemetry context, so whatever runs inside a
transaction (a log line, a span, an error) can read them without being handed them::

    with transaction("GET /users/{id}", headers=request.headers) as ids:
        log.info("loading")                     # the formatter calls current_ids()
        call_backend(headers=outgoing_headers())

A missing, malformed or all-zero ``traceparent`` starts a new GTX; nothing here raises on bad
input from the wire. The caller's ``tracestate`` and ``baggage`` (W3C) are kept in the context
and go on with ``traceparent`` in :func:`outgoing_headers`, through OpenTelemetry's standard
propagators; a caller's "not sampled" flag (``-00``) is followed (see :mod:`telemetry.tracer`).
"""
from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    NoOpTracerProvider,
    ProxyTracerProvider,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import runtime_context
from .origin import valid_service, with_origin
from .runtime_context import SPAN_KEY as _SPAN_KEY
from .runtime_context import attach as _attach
from .runtime_context import detach as _detach
from .runtime_context import get_current as _get_current
from .runtime_context import reset as _reset
from .tracer import TRANSACTION_ID, Provider

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
BAGGAGE = "baggage"
PROPAGATED = (TRACEPARENT, TRACESTATE, BAGGAGE)
"""The headers (and job fields) that carry the caller's context."""
INSTRUMENTATION_NAME = "oam.telemetry"

_propagator = TraceContextTextMapPropagator()
_standard_propagator = CompositePropagator([_propagator, W3CBaggagePropagator()])
_transaction_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("oam_ltx", default=None)
_fallback_provider = Provider(transaction_id=_transaction_id.get)


class TraceIds(NamedTuple):
    """The ids every document emitted inside a transaction carries."""

    trace_id: str
    transaction_id: str | None
    span_id: str
    parent_id: str | None = None

    def as_fields(self) -> dict[str, str]:
        """ECS dotted fields: ``trace.id``, ``transaction.id``, ``span.id`` (and ``parent.id``)."""
        fields = {"trace.id": self.trace_id, "span.id": self.span_id}
        if self.transaction_id:
            fields["transaction.id"] = self.transaction_id
        if self.parent_id:
            fields["parent.id"] = self.parent_id
        return fields


_EMPTY_CONTEXT = otel_context.Context()
_installed_provider: trace.TracerProvider | None = None
_installed_tracer: trace.Tracer | None = None
_installed_start_child: Callable[..., trace.Span] | None = None  # the app agent's tracer's short path
_announced_service: str | None = None  # told to callees in tracestate (see telemetry.origin)


def use_tracer_provider(provider: trace.TracerProvider | None, service: str | None = None) -> None:
    """Make ``provider`` (with its exporters) the one transactions and spans go to; None resets.

    With ``service``, outgoing calls and jobs tell the callee this service's name (:mod:`telemetry.origin`)."""
    global _installed_provider, _installed_tracer, _installed_start_child, _announced_service
    _installed_provider = provider
    _announced_service = service if provider is not None and valid_service(service) else None
    _installed_tracer = provider.get_tracer(INSTRUMENTATION_NAME) if provider is not None else None
    _installed_start_child = getattr(_installed_tracer, "start_child", None)


def tracer_provider() -> trace.TracerProvider:
    """The provider in use: one installed here, else the global one if it was set, else the suite's own."""
    if _installed_provider is not None:
        return _installed_provider
    provider = trace.get_tracer_provider()
    return _fallback_provider if isinstance(provider, (ProxyTracerProvider, NoOpTracerProvider)) else provider


_tracers: dict[int, tuple[trace.TracerProvider, trace.Tracer]] = {}


def _tracer() -> trace.Tracer:
    """The tracer of the provider in use, made once per provider (``get_tracer`` is not cheap)."""
    if _installed_tracer is not None:
        return _installed_tracer
    provider = tracer_provider()
    cached = _tracers.get(id(provider))
    if cached is None or cached[0] is not provider:
        cached = _tracers[id(provider)] = (provider, provider.get_tracer(INSTRUMENTATION_NAME))
    return cached[1]


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def parse_traceparent(value: str | None) -> SpanContext | None:
    """The remote span context in a ``traceparent`` value, or None if it is absent or invalid."""
    if not value or not isinstance(value, str):
        return None
    try:
        ctx = _propagator.extract({TRACEPARENT: value.strip()})
    except Exception:  # noqa: BLE001 - the propagator is lenient, but wire input must never raise here
        return None
    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """A ``traceparent`` header value for the given ids."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=flags))
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier[TRACEPARENT]


def _carrier(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The propagated headers of ``headers`` under their lowercase names (the lookup ignores case)."""
    if not headers:
        return {}
    return {key.lower(): value for key, value in headers.items()
            if isinstance(key, str) and key.lower() in PROPAGATED and isinstance(value, str)}


def extract(carrier: Mapping[str, str | None]) -> otel_context.Context:
    """The caller's context from ``traceparent``, ``tracestate`` and ``baggage`` (OpenTelemetry's W3C
    propagators): its span as the parent (if valid), its baggage; an empty context when there is none."""
    given = {key: value.strip() for key, value in carrier.items() if value and isinstance(value, str)}
    if not given:
        return _EMPTY_CONTEXT
    try:
        ctx = _standard_propagator.extract(given)
    except Exception:  # noqa: BLE001 - the propagators are lenient, but wire input must never raise here
        return _EMPTY_CONTEXT
    if not trace.get_current_span(ctx).get_span_context().is_valid:  # keep the baggage, not an invalid parent
        return _standard_propagator.extract({key: value for key, value in given.items() if key == BAGGAGE}) \
            if BAGGAGE in given else _EMPTY_CONTEXT
    return ctx


def propagated_labels(ctx: otel_context.Context) -> dict[str, str]:
    """The caller's ``tracestate`` and baggage as transaction labels (``labels.tracestate``,
    ``labels.baggage_<key>``), so the backend's documents show what reached it."""
    labels = {f"labels.baggage_{key.replace('.', '_')}": str(value) for key, value in otel_baggage.get_all(ctx).items()}
    state = trace.get_current_span(ctx).get_span_context().trace_state
    if state:
        labels["labels.tracestate"] = state.to_header()
    return labels


class OpenTransaction:
    """A transaction begun by :func:`begin_transaction` and current until :meth:`end`.

    For frameworks whose hooks start and finish a request in different callbacks; elsewhere
    use the :func:`transaction` context manager.
    """

    __slots__ = ("span", "trace_id", "transaction_id", "context_token", "ltx_token")

    def __init__(self, span: trace.Span, trace_id: str, transaction_id: str, context_token: Any,
                 ltx_token: contextvars.Token) -> None:
        self.span, self.trace_id, self.transaction_id = span, trace_id, transaction_id
        self.context_token, self.ltx_token = context_token, ltx_token

    def end(self) -> None:
        """Leave the transaction (on the thread that began it) and record it."""
        _transaction_id.reset(self.ltx_token)
        try:
            _reset(self.context_token)
        except Exception:  # noqa: BLE001 - a foreign token: logged, as the API does
            _detach(self.context_token)
        self.span.end()


_new_object = object.__new__


def begin_transaction(name: str, traceparent: str | None = None, kind: SpanKind = SpanKind.SERVER,
                      attributes: dict[str, Any] | None = None, tracestate: str | None = None,
                      baggage: str | None = None) -> OpenTransaction:
    """Like :func:`transaction`, without a ``with`` block: call ``end()`` on the result."""
    if tracestate is None and baggage is None:  # the usual request: traceparent alone, read the short way
        remote = parse_traceparent(traceparent) if traceparent else None
        if remote is None:
            parent, remote = _EMPTY_CONTEXT, INVALID_SPAN_CONTEXT
        else:
            parent = Context({_SPAN_KEY: NonRecordingSpan(remote)})
    else:
        parent = extract({TRACEPARENT: traceparent, TRACESTATE: tracestate, BAGGAGE: baggage})
        remote = trace.get_current_span(parent).get_span_context()
        attributes = {**(attributes or {}), **propagated_labels(parent)}
    start_child = _installed_start_child
    span = start_child(name, parent, remote, kind, attributes) if start_child is not None \
        else _tracer().start_span(name, context=parent, kind=kind, attributes=attributes)
    context_token = _attach(Context({**parent, _SPAN_KEY: span}))
    ids = span.get_span_context()
    ltx = "%016x" % ids[1]
    opened = _new_object(OpenTransaction)  # OpenTransaction.__init__, inline: this runs for every request
    opened.span, opened.trace_id, opened.transaction_id = span, "%032x" % ids[0], ltx
    opened.context_token, opened.ltx_token = context_token, _transaction_id.set(ltx)
    return opened


@contextmanager
def transaction(
    name: str,
    headers: Mapping[str, str] | None = None,
    traceparent: str | None = None,
    kind: SpanKind = SpanKind.SERVER,
    attributes: dict[str, Any] | None = None,
    tracestate: str | None = None,
    baggage: str | None = None,
) -> Iterator[TraceIds]:
    """Run a unit of work (LTX) that continues the caller's GTX, or starts one.

    ``headers`` (any mapping; the lookup ignores case: ``traceparent``, ``tracestate``,
    ``baggage``) or the values themselves carry the caller's context; a job passes the ones it
    was enqueued with.
    """
    carrier = _carrier(headers)
    for key, value in ((TRACEPARENT, traceparent), (TRACESTATE, tracestate), (BAGGAGE, baggage)):
        if value:
            carrier[key] = value
    parent_ctx = extract(carrier)
    remote_context = trace.get_current_span(parent_ctx).get_span_context()
    remote = remote_context if remote_context.is_valid else None
    if len(carrier) > 1 or TRACEPARENT not in carrier:
        attributes = {**(attributes or {}), **propagated_labels(parent_ctx)}
    with _tracer().start_as_current_span(name, context=parent_ctx, kind=kind, attributes=attributes) as span:
        ids = span.get_span_context()
        token = _transaction_id.set(_hex(ids.span_id, 16))
        try:
            yield TraceIds(_hex(ids.trace_id, 32), _hex(ids.span_id, 16), _hex(ids.span_id, 16),
                           _hex(remote.span_id, 16) if remote else None)
        finally:
            _transaction_id.reset(token)


class _SpanScope:
    """The span of :func:`span` while its ``with`` block runs; ``as`` gives its ids.

    A class (not a generator): this runs for every operation, so :func:`span` sets its fields
    without an ``__init__``. The ids are formatted only when read, as most callers never read them.
    """

    __slots__ = ("span", "parent", "context", "token", "transaction_id")
    span: trace.Span  # the span itself
    parent: SpanContext  # its parent's (invalid for a root span)
    context: otel_context.Context  # the context it was started in
    token: Any  # while current: the token that restores that context
    transaction_id: str | None

    @property
    def trace_id(self) -> str:
        return "%032x" % self.span.get_span_context().trace_id

    @property
    def span_id(self) -> str:
        return "%016x" % self.span.get_span_context().span_id

    @property
    def parent_id(self) -> str | None:
        return "%016x" % self.parent.span_id if self.parent.is_valid else None

    def as_fields(self) -> dict[str, str]:
        """ECS dotted fields, as :meth:`TraceIds.as_fields`."""
        return TraceIds(self.trace_id, self.transaction_id, self.span_id, self.parent_id).as_fields()

    def __enter__(self) -> "_SpanScope":
        self.token = _attach(Context({**self.context, _SPAN_KEY: self.span}))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        span = self.span
        try:
            try:
                _reset(self.token)
            except Exception:  # noqa: BLE001 - a foreign token: logged, as the API does
                _detach(self.token)
            # as the SDK's use_span: an Exception (not a BaseException) marks the span failed
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            span.end()


def span(name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: dict[str, Any] | None = None) -> _SpanScope:
    """A child span of whatever is current (a new GTX if nothing is), for a ``with`` block.

    It carries the current ``transaction.id`` from its start (see :mod:`agents.app.spans`);
    ``with span(...) as ids`` gives its ``trace_id``, ``transaction_id``, ``span_id`` and
    ``parent_id``.
    """
    current = _get_current()
    parent_span = current.get(_SPAN_KEY)
    parent = parent_span.get_span_context() if parent_span is not None else INVALID_SPAN_CONTEXT
    ltx = _transaction_id.get()
    if ltx and parent[5]:  # is_valid, read as the tuple item it is
        attributes = {**attributes, TRANSACTION_ID: ltx} if attributes else {TRANSACTION_ID: ltx}
    start_child = _installed_start_child  # the app agent's tracer: the parent is already known
    started = start_child(name, current, parent, kind, attributes) if start_child is not None \
        else _tracer().start_span(name, context=current, kind=kind, attributes=attributes)
    scope = _new_object(_SpanScope)  # _SpanScope.__init__, inline: this runs for every operation
    scope.span, scope.parent, scope.context, scope.token, scope.transaction_id = started, parent, current, None, ltx
    return scope


def current_ids() -> TraceIds | None:
    """The ids of the current span and transaction, or None outside any."""
    span_context = runtime_context.span_in(runtime_context.get_current()).get_span_context()
    if not span_context.is_valid:
        return None
    return TraceIds(_hex(span_context.trace_id, 32), _transaction_id.get(), _hex(span_context.span_id, 16))


current_transaction_id: Callable[[], str | None] = _transaction_id.get
"""The LTX of the unit of work in progress, or None (the ContextVar's own ``get``: no Python frame)."""


def outgoing_headers() -> dict[str, str]:
    """Headers (``traceparent``, and ``tracestate`` and ``baggage`` when the context has them) to put
    on an outgoing call or queued job; empty outside a transaction. A service announced to
    :func:`use_tracer_provider` adds its ``oam`` entry to ``tracestate`` of a sampled trace."""
    carrier: dict[str, str] = {}
    ids = current_ids()
    if ids is not None:
        _standard_propagator.inject(carrier)
        sampled = TRACEPARENT in carrier and int(carrier[TRACEPARENT][-2:], 16) & 1
        if _announced_service is not None and sampled:  # a callee not sampled records nothing to tell
            carrier[TRACESTATE] = with_origin(carrier.get(TRACESTATE), ids.span_id, _announced_service)
    return carrier
