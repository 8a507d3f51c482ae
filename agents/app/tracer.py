"""The OpenTelemetry SDK's tracer, with a short path for the spans an instrumented request makes.

The SDK's generic span costs about a hundred Python calls to start and end: a sampling
result, a ``BoundedAttributes`` mapping that validates each value under a lock, event and link
lists made up front, and a ``ReadableSpan`` copy handed to the processors at the end. A cache
lookup that takes 50 microseconds cannot afford that three times per request.

:class:`LeanTracerProvider` is the SDK's ``TracerProvider`` (same resource, id generator,
sampler, span processors, limits, shutdown) whose tracers start :class:`LeanSpan`\\ s: SDK
``Span`` objects that

* keep attributes in a plain dict, checking values cheaply (str, bool, int and float are
  taken as they are, anything else goes through the SDK's own cleaning; the attribute count
  and value length limits still apply);
* make their event and link lists only when one is added;
* hand *themselves* to the processors when they end (once ended, a span refuses changes, so
  no copy is needed).

Spans with links or non-default exception options, tracers whose sampler is not
``ALWAYS_ON`` and the SDK's opt-in self-metrics take the SDK's own path.
Processors and exporters written for the SDK (``BatchSpanProcessor``, the OTLP exporter) take
these spans as they are.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from random import getrandbits
from time import time_ns
from typing import Any, NamedTuple

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, Tracer, TracerProvider
from opentelemetry.sdk.trace._tracer_metrics import NoOpTracerMetrics  # the SDK's opt-in self-metrics
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import DEFAULT_TRACE_STATE, Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from telemetry.context import TRANSACTION_ID, current_transaction_id

log = logging.getLogger(__name__)

UNSET_STATUS = _UNSET = Status(StatusCode.UNSET)  # the status of a span no one set one on
_NOT_LOOKED_UP = object()
_PLAIN_VALUES = (str, bool, int, float)
_PLAIN_TYPES = frozenset(_PLAIN_VALUES)  # exact types, as ``type(value) in _PLAIN_VALUES``
_STR_TYPE = frozenset((str,))
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)


_DROPPED = object()
_MAX_SPAN_ID = 2**64 - 1
_MAX_TRACE_ID = 2**128 - 1
_RANDOM_TRACE_ID = TraceFlags.RANDOM_TRACE_ID
_new_object = object.__new__


def _cleaned(key: Any, value: Any, max_length: int | None) -> Any:
    """``value`` as the SDK would store it (sequences made tuples, strings cut), or _DROPPED."""
    return BoundedAttributes(None, {key: value}, max_value_len=max_length).get(key, _DROPPED)


class LeanSpan(Span):
    """An SDK span started and ended with as little work as the SDK's contract allows.

    What all spans of one tracer share (resource, scope, limits, processors, a lock) are class
    attributes of a subclass made per tracer (see :meth:`LeanTracer.span_class`); a span sets
    only its own fields.
    """

    _trace_config = None
    _record_exception = True
    _set_status_on_exception = True
    _status = _UNSET
    _end_time: int | None = None
    _events: Sequence[Event] = ()  # made a list when the first event is added
    _links: Sequence[Link] = ()
    _dropped_attributes = 0
    # per tracer: _resource, _instrumentation_info, _instrumentation_scope, _limits, _span_processor,
    # _sampler, _lock, _processors (see LeanTracer.span_class)
    _record_end_metrics = None  # the SDK's self-metrics are off on this path
    _plain_limit = 0  # how many plain attributes are stored unchecked (per tracer: _plain_limit())

    # pylint: disable=super-init-not-called  # the SDK's __init__ is the cost this class avoids
    def __init__(self, name: str, context: SpanContext, parent: SpanContext | None, kind: SpanKind,
                 attributes: types.Attributes, start_time: int | None) -> None:
        # LeanTracer.start_child sets these fields itself (without this call); keep the two alike
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes: dict[str, types.AnyValue] = {}
        if attributes:
            self._put_all(attributes)
        self._start_time = start_time if start_time is not None else time_ns()

    def get_span_context(self) -> SpanContext:
        return self._context

    # -- attributes: a plain dict behind the SDK's limits -------------------------------------

    def _put(self, key: str, value: Any) -> None:
        limits = self._limits
        if type(value) not in _PLAIN_VALUES or type(key) is not str or not key or (
                limits.max_span_attribute_length is not None and type(value) is str):
            value = _cleaned(key, value, limits.max_span_attribute_length)
            if value is _DROPPED:
                self._dropped_attributes += 1
                return
        attributes = self._attributes
        if key not in attributes and limits.max_span_attributes is not None \
                and len(attributes) >= limits.max_span_attributes:
            self._dropped_attributes += 1
            if not limits.max_span_attributes:
                return
            del attributes[next(iter(attributes))]  # as the SDK: the oldest makes room

        attributes[key] = value

    def _put_all(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self._put(key, value)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        attributes = self._attributes
        if type(value) in _PLAIN_VALUES and type(key) is str and key and self._plain_limit and (
                key in attributes or len(attributes) < self._plain_limit):
            attributes[key] = value  # a plain value within the limits: stored as it is
        else:
            self._put(key, value)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        self._put_all(attributes)

    @property
    def attributes(self) -> types.Attributes:
        return self._attributes

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    # -- events and links: rare, so their lists are made when the first one comes --------------

    def _add_event(self, event: Any) -> None:
        self._append_within_limit("_events", event, self._limits.max_events, "add_event")

    def _add_link(self, link: Link) -> None:
        self._append_within_limit("_links", link, self._limits.max_links, "add_link")

    def _append_within_limit(self, field: str, item: Any, limit: int | None, action: str) -> None:
        with self._lock:
            if self._end_time is not None:
                log.warning("Tried calling %s on an ended span.", action)
                return
            items = getattr(self, field)
            if not items:
                items = []
                setattr(self, field, items)
            if limit is None or len(items) < limit:
                items.append(item)

    @property
    def dropped_events(self) -> int:
        return 0

    @property
    def dropped_links(self) -> int:
        return 0

    # -- life cycle ------------------------------------------------------------------------

    def start(self, start_time: int | None = None, parent_context: context_api.Context | None = None) -> None:
        """Started when made; this only tells the processors (as the SDK's ``start`` does)."""
        for on_start in self._processors.current().on_start:
            on_start(self, parent_context=parent_context)

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._end_time is not None:
                log.warning("Calling end() on an ended span.")
                return
            self._end_time = end_time if end_time is not None else time_ns()
        processors = self._processors
        calls = processors.calls
        if calls.source is not processors.owner._span_processors:
            calls = processors.current()  # a processor was added: look the calls up again
        for on_ending in calls.on_ending:
            on_ending(self)
        for on_end in calls.on_end:
            on_end(self)  # the span itself: once ended it is read-only

    def _readable_span(self) -> "LeanSpan":
        return self


def _plain_limit(limits: Any) -> int:
    """How many plain (str, bool, int, float) attributes a span takes as they are: 0 if strings are cut."""
    if limits.max_span_attribute_length is not None:
        return 0
    return limits.max_span_attributes if limits.max_span_attributes is not None else 2**31


class _ProcessorCalls(NamedTuple):
    source: Any
    on_start: tuple[Callable[..., None], ...]
    on_ending: tuple[Callable[[Span], None], ...]
    on_end: tuple[Callable[[ReadableSpan], None], ...]


class _Processors:
    """The provider's span processors, called one by one rather than through its dispatcher.

    The SDK's dispatcher keeps its processors in a tuple it replaces when one is added; the
    bound methods are looked up again whenever that tuple changes (``calls.source`` is not
    ``owner._span_processors``). ``_on_ending`` is skipped for processors that do not override
    it, ``on_start`` for processors marked ``on_start_skips_lean_spans`` (they only stamp the
    LTX, which the tracer does itself), and a processor's ``on_end_of_lean_span`` (a callable
    taking the span) replaces its ``on_end``. A dispatcher of another kind is called as it is.
    """

    _span_processors = None  # the owner of a dispatcher that keeps no such tuple

    def __init__(self, dispatcher: SpanProcessor) -> None:
        self.dispatcher = dispatcher
        self.owner = dispatcher if hasattr(dispatcher, "_span_processors") else self
        self.calls = _ProcessorCalls(_NOT_LOOKED_UP, (), (), ())  # valid while calls.source is the tuple

    def current(self) -> _ProcessorCalls:
        calls = self.calls
        processors = self.owner._span_processors
        if calls.source is not processors:
            if processors is None:
                dispatcher = self.dispatcher
                calls = _ProcessorCalls(None, (dispatcher.on_start,), (dispatcher._on_ending,),  # noqa: SLF001
                                        (dispatcher.on_end,))
            else:
                calls = _ProcessorCalls(
                    processors,
                    tuple(p.on_start for p in processors if not getattr(p, "on_start_skips_lean_spans", False)),
                    tuple(p._on_ending for p in processors  # noqa: SLF001
                          if type(p)._on_ending is not SpanProcessor._on_ending),  # noqa: SLF001
                    tuple(getattr(p, "on_end_of_lean_span", None) or p.on_end for p in processors))
            self.calls = calls
        return calls


class LeanTracer(Tracer):
    """The SDK's tracer; spans without links under ``ALWAYS_ON`` take the short path."""

    _span_class: type[LeanSpan] | None = None

    def span_class(self) -> type[LeanSpan]:
        """The :class:`LeanSpan` subclass carrying what this tracer's spans share."""
        if self._span_class is None:
            self._span_class = type("LeanSpan", (LeanSpan,), {
                "__module__": __name__, "_resource": self.resource,
                "_instrumentation_info": self.instrumentation_info,
                "_instrumentation_scope": self._instrumentation_scope, "_limits": self._span_limits,
                "_span_processor": self.span_processor, "_sampler": self.sampler, "_lock": threading.Lock(),
                "_processors": _Processors(self.span_processor), "_plain_limit": _plain_limit(self._span_limits)})
        return self._span_class

    _short_path: bool | None = None  # set by _check_short_path (the sampler and metrics are fixed, the config is not)
    _random_ids = False

    def _check_short_path(self) -> bool:
        self._random_ids = type(self.id_generator) is RandomIdGenerator
        self._short_path = self.sampler is ALWAYS_ON and self._tracer_config.is_enabled \
            and type(self._tracer_metrics) is NoOpTracerMetrics
        return self._short_path

    def _set_tracer_config(self, tracer_config: Any) -> None:
        super()._set_tracer_config(tracer_config)
        self._check_short_path()

    def start_span(self, name: str, context: context_api.Context | None = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: types.Attributes = None,
                   links: Sequence[Link] | None = (), start_time: int | None = None,
                   record_exception: bool = True, set_status_on_exception: bool = True) -> trace_api.Span:
        if links or not record_exception or not set_status_on_exception or not self._check_short_path():
            return super().start_span(name, context, kind, attributes, links, start_time, record_exception,
                                      set_status_on_exception)
        return self.start_child(name, context, trace_api.get_current_span(context).get_span_context(), kind,
                                attributes, start_time)

    def start_child(self, name: str, context: context_api.Context | None, parent: SpanContext, kind: SpanKind,
                    attributes: types.Attributes, start_time: int | None = None) -> trace_api.Span:
        """``start_span`` for a caller that has already looked up the parent in ``context``.

        This is the path of every span an instrumented request makes, so it is written out in
        one function: ids from ``random`` as the SDK's ``RandomIdGenerator`` makes them, the
        ``SpanContext`` tuple built as its ``__new__`` builds it, the span's fields set directly,
        the attributes checked for plain values by C calls rather than a loop.
        """
        short_path = self._short_path
        if not (short_path or short_path is None and self._check_short_path()):
            return super().start_span(name, context, kind, attributes, start_time=start_time)
        random_ids = self._random_ids
        if parent[5]:  # is_valid
            trace_id, trace_state = parent[0], parent[4]
            flags = _SAMPLED_RANDOM if parent[3] & _RANDOM_TRACE_ID else _SAMPLED
        else:
            parent, trace_state = None, DEFAULT_TRACE_STATE  # type: ignore[assignment]
            trace_id = getrandbits(128) if random_ids else self.id_generator.generate_trace_id()
            flags = _SAMPLED_RANDOM if random_ids or self.id_generator.is_trace_id_random() else _SAMPLED
        span_id = getrandbits(64) if random_ids else self.id_generator.generate_span_id()
        # random bits are within the id's width; only zero (one in 2**64) is invalid
        if span_id and trace_id and (random_ids or span_id <= _MAX_SPAN_ID and trace_id <= _MAX_TRACE_ID
                                     and span_id > 0 and trace_id > 0):
            span_context = tuple.__new__(SpanContext, (trace_id, span_id, False, flags, trace_state, True))
        else:  # the generator's own loop makes a valid one
            ids = self.id_generator
            span_context = SpanContext(trace_id or ids.generate_trace_id(), span_id or ids.generate_span_id(),
                                       False, flags, trace_state)
        span_class = self._span_class or self.span_class()
        span = _new_object(span_class)  # LeanSpan.__init__, inline
        span._name, span._context, span._parent, span._kind = name, span_context, parent, kind
        if not attributes:
            span._attributes = {}
        elif len(attributes) <= span_class._plain_limit and _PLAIN_TYPES.issuperset(map(type, attributes.values())) \
                and _STR_TYPE.issuperset(map(type, attributes)) and "" not in attributes:
            span._attributes = dict(attributes)  # plain values under plain keys, within the limits: kept as given
        else:
            span._attributes = {}
            span._put_all(attributes)
        span._start_time = start_time if start_time is not None else time_ns()
        if parent is not None and not parent[2] and TRANSACTION_ID not in span._attributes:
            ltx = current_transaction_id()
            if ltx:  # stamped here: processors that would stamp it are not called (see _Processors)
                span._put(TRANSACTION_ID, ltx)
        processors = span_class._processors  # noqa: SLF001
        calls = processors.calls
        if calls.source is not processors.owner._span_processors:
            calls = processors.current()
        for on_start in calls.on_start:
            on_start(span, parent_context=context)
        return span


class LeanTracerProvider(TracerProvider):
    """The SDK's ``TracerProvider`` whose tracers start :class:`LeanSpan`\\ s."""

    def get_tracer(self, instrumenting_module_name: str, instrumenting_library_version: str | None = None,
                   schema_url: str | None = None, attributes: types.Attributes = None) -> trace_api.Tracer:
        tracer = super().get_tracer(instrumenting_module_name, instrumenting_library_version, schema_url,
                                    attributes)
        if type(tracer) is Tracer:
            tracer.__class__ = LeanTracer  # same state, shorter span path
            tracer._check_short_path()
        return tracer
