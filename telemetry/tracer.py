"""The suite's tracer: an implementation of the OpenTelemetry tracing API, small enough for every request.

The OpenTelemetry API is made so that an implementation other than the reference SDK can
stand behind it; this is one. :class:`Provider`, :class:`Tracer` and :class:`RecordedSpan` are
subclasses of the API's ``TracerProvider``, ``Tracer`` and ``Span`` and use nothing but its
public names (``SpanContext``, ``TraceFlags``, ``Status``, ``Link``, ``trace.use_span``,
``trace.get_current_span``), so any code written against the API — ``trace.get_current_span()``,
``start_as_current_span``, propagators — works with it, and the spans it makes carry the context
the API reads.

What it keeps short, because a cache lookup that takes 50 microseconds cannot afford a
generic span's hundred Python calls three times per request:

* sampling is parent-based: a span with a parent is recorded exactly when its parent was
  sampled (a caller's ``-00`` is honoured), and a new trace is recorded when its trace id falls
  under the provider's ``sample_ratio`` (as the SDK's ``TraceIdRatioBased``: the id's low 64 bits
  below ``ratio * 2**64``); a span not recorded is the API's ``NonRecordingSpan`` with the
  not-sampled flag, so its context still propagates. Ids are random bits;
* a span's fields are plain attributes of its own (``name``, ``context``, ``parent``, ``kind``,
  ``attributes``, ``start_time``, ``end_time``, ``status``, ``events``, ``links``), read by
  processors without property calls;
* attributes live in a plain dict: str, bool, int and float values are taken as they are, any
  other value is cleaned by the API's ``BoundedAttributes`` (sequences made tuples, invalid
  values dropped); the count and length limits apply;
* event and link lists are made when the first one is added;
* the span's LTX (``transaction.id``) is stamped when it starts, from the getter the provider
  was given, so processors need no ``on_start``;
* an ended span is handed to the processors itself (it refuses changes once ended).

Processors are :class:`SpanProcessor` objects (``on_start``, ``on_end``, ``shutdown``,
``force_flush``). Export through the OpenTelemetry SDK (OTLP, for instance) goes through
:class:`agents.app.sdk_export.SdkSpanExport`, the one place the SDK is needed.
"""
from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from random import getrandbits
from time import time_ns
from types import TracebackType
from typing import Any, NamedTuple

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util import types

log = logging.getLogger(__name__)

TRANSACTION_ID = "transaction.id"  # the span attribute that carries the LTX
UNSET_STATUS = Status(StatusCode.UNSET)  # the status of a span no one set one on
_PLAIN_VALUES = (str, bool, int, float)
_PLAIN_TYPES = frozenset(_PLAIN_VALUES)  # exact types, as ``type(value) in _PLAIN_VALUES``
_STR_TYPE = frozenset((str,))
# W3C trace context level 2: the trace id is random (opentelemetry-api 1.3x names the flag)
_RANDOM_TRACE_ID = int(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | _RANDOM_TRACE_ID)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_NOT_SAMPLED_RANDOM = TraceFlags(_RANDOM_TRACE_ID)
_SAMPLED_BIT = int(TraceFlags.SAMPLED)
_LOW_64 = 2**64 - 1
_DROPPED = object()
_new_object = object.__new__


class SpanLimits(NamedTuple):
    """How much one span keeps (the OpenTelemetry SDK's defaults; None is no limit)."""

    max_attributes: int | None = 128
    max_attribute_length: int | None = None
    max_events: int | None = 128
    max_links: int | None = 128

    def plain_limit(self) -> int:
        """How many plain (str, bool, int, float) attributes a span takes as they are: 0 if strings are cut."""
        if self.max_attribute_length is not None:
            return 0
        return self.max_attributes if self.max_attributes is not None else 2**31


_DEFAULT_LIMITS = SpanLimits()  # a tuple: one shared default is safe


class SpanEvent(NamedTuple):
    """An event recorded on a span (``add_event``, ``record_exception``)."""

    name: str
    attributes: types.Attributes
    timestamp: int


class SpanProcessor:
    """Told of each span the provider's tracers start and end; override what you need.

    ``on_start`` is called only for processors that override it.
    """

    def on_start(self, span: "RecordedSpan", parent_context: Context | None = None) -> None:
        """A span started (its fields are set, ``end_time`` is None)."""

    def on_end(self, span: "RecordedSpan") -> None:
        """A span ended; it is read-only from now on."""

    def shutdown(self) -> None:
        """The provider shuts down."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write out what is pending; True when done."""
        return True


def _cleaned(key: Any, value: Any, max_length: int | None) -> Any:
    """``value`` as the API's ``BoundedAttributes`` stores it (sequences made tuples, strings cut), or _DROPPED."""
    return BoundedAttributes(None, {key: value}, max_value_len=max_length).get(key, _DROPPED)


def _put(span: "RecordedSpan", key: str, value: Any) -> None:
    """Store an attribute as the limits allow: a value not plain is cleaned, the oldest makes room."""
    limits = span.limits
    if type(value) not in _PLAIN_VALUES or type(key) is not str or not key or (
            limits.max_attribute_length is not None and type(value) is str):
        value = _cleaned(key, value, limits.max_attribute_length)
        if value is _DROPPED:
            span.dropped_attributes += 1
            return
    attributes = span.attributes
    if key not in attributes and limits.max_attributes is not None and len(attributes) >= limits.max_attributes:
        span.dropped_attributes += 1
        if not limits.max_attributes:
            return
        del attributes[next(iter(attributes))]
    attributes[key] = value


def _put_all(span: "RecordedSpan", attributes: Mapping[str, types.AnyValue]) -> None:
    for key, value in attributes.items():
        _put(span, key, value)


class RecordedSpan(trace.Span):
    """A span of :class:`Tracer`; its fields are plain attributes (see the module's notes).

    What the spans of one tracer share (its provider's limits and processors, the scope) are
    class attributes of a subclass made per tracer; a span sets only its own fields.
    """

    name: str
    context: SpanContext
    parent: SpanContext | None  # None for a root span
    kind: SpanKind
    attributes: dict[str, types.AnyValue]
    start_time: int
    end_time: int | None = None
    status: Status = UNSET_STATUS
    events: Sequence[SpanEvent] = ()  # made a list when the first event is added
    links: Sequence[Link] = ()
    dropped_attributes = 0
    record_exception_on_exit = True
    set_status_on_exception = True
    # per tracer (see Tracer.__init__)
    instrumentation_scope: tuple[str, str | None, str | None] = ("", None, None)  # name, version, schema URL
    provider: "Provider"
    limits = SpanLimits()
    plain_limit = 0  # SpanLimits.plain_limit()
    _lock = threading.Lock()

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    # -- attributes: a plain dict behind the limits (see _put) ---------------------------------

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self.end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        attributes = self.attributes
        if type(value) in _PLAIN_VALUES and type(key) is str and key and self.plain_limit and (
                key in attributes or len(attributes) < self.plain_limit):
            attributes[key] = value  # a plain value within the limits: stored as it is
        else:
            _put(self, key, value)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self.end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        _put_all(self, attributes)

    # -- events, links, status, name -----------------------------------------------------------

    def _append(self, field: str, item: Any, limit: int | None, action: str) -> None:
        with self._lock:
            if self.end_time is not None:
                log.warning("Tried calling %s on an ended span.", action)
                return
            items = getattr(self, field)
            if not items:
                items = []
                setattr(self, field, items)
            if limit is None or len(items) < limit:
                items.append(item)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        cleaned = BoundedAttributes(self.limits.max_attributes, attributes, immutable=True,
                                    max_value_len=self.limits.max_attribute_length) if attributes else {}
        self._append("events", SpanEvent(name, cleaned, timestamp if timestamp is not None else time_ns()),
                     self.limits.max_events, "add_event")

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if context is not None and context.is_valid:
            self._append("links", Link(context, attributes), self.limits.max_links, "add_link")

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        """An ``exception`` event with the attributes the OpenTelemetry semantic conventions name."""
        module, qualname = type(exception).__module__, type(exception).__qualname__
        fields: dict[str, types.AnyValue] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(type(exception), exception,
                                                                       exception.__traceback__)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            fields.update(attributes)
        self.add_event("exception", fields, timestamp)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the API says: OK is final, UNSET changes nothing, a ``Status`` takes no description."""
        if self.end_time is not None:
            log.warning("Calling set_status() on an ended span.")
            return
        if self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                log.warning("Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                            description)
            self.status = status
        elif status is not StatusCode.UNSET:
            self.status = Status(status, description)

    def update_name(self, name: str) -> None:
        if self.end_time is not None:
            log.warning("Calling update_name() on an ended span.")
            return
        self.name = name

    # -- life cycle ------------------------------------------------------------------------

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self.end_time is not None:
                log.warning("Calling end() on an ended span.")
                return
            self.end_time = end_time if end_time is not None else time_ns()
        for on_end in self.provider.on_end_calls:
            on_end(self)  # the span itself: once ended it is read-only

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        """Ends the span; an exception leaving the block is recorded first (unless the span was told not to)."""
        if exc_val is not None and self.end_time is None:
            if self.record_exception_on_exit:
                self.record_exception(exc_val, escaped=True)
            if self.set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{exc_type.__name__ if exc_type else ''}: {exc_val}"))
        self.end()


class Tracer(trace.Tracer):
    """Starts :class:`RecordedSpan`\\ s for one instrumentation scope of a :class:`Provider`."""

    def __init__(self, provider: "Provider", name: str, version: str | None = None,
                 schema_url: str | None = None) -> None:
        self.provider = provider
        self.span_class: type[RecordedSpan] = type("RecordedSpan", (RecordedSpan,), {
            "__module__": __name__, "instrumentation_scope": (name, version, schema_url), "provider": provider,
            "limits": provider.limits, "plain_limit": provider.limits.plain_limit(), "_lock": threading.Lock()})
        self._transaction_id = provider.transaction_id

    def start_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                   attributes: types.Attributes = None, links: Sequence[Link] | None = None,
                   start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> RecordedSpan:
        parent = trace.get_current_span(context).get_span_context()
        span = self.start_child(name, context, parent, kind, attributes, start_time, links)
        if not isinstance(span, RecordedSpan):  # not sampled
            return span  # type: ignore[return-value]
        if not record_exception:
            span.record_exception_on_exit = False
        if not set_status_on_exception:
            span.set_status_on_exception = False
        return span

    @contextmanager
    def start_as_current_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                              attributes: types.Attributes = None, links: Sequence[Link] | None = None,
                              start_time: int | None = None, record_exception: bool = True,
                              set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Iterator[RecordedSpan]:
        span = self.start_span(name, context, kind, attributes, links, start_time, record_exception,
                               set_status_on_exception)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current

    def start_child(self, name: str, context: Context | None, parent: SpanContext, kind: SpanKind,
                    attributes: types.Attributes, start_time: int | None = None,
                    links: Sequence[Link] | None = None) -> RecordedSpan:
        """``start_span`` for a caller that has already looked up the parent's span context.

        This is the path of every span an instrumented request makes, so it is written out in
        one function: the span's fields set directly, the attributes checked for plain values by
        C calls (``frozenset.issuperset`` over ``map(type, ...)``) rather than a loop.
        """
        if parent[5]:  # is_valid (a SpanContext is a tuple: trace id, span id, remote, flags, state, valid)
            trace_id, trace_state = parent[0], parent[4]
            if not parent[3] & _SAMPLED_BIT:  # the parent was not sampled: neither is this span
                return NonRecordingSpan(SpanContext(  # type: ignore[return-value]
                    trace_id, getrandbits(64) or 1, False,
                    _NOT_SAMPLED_RANDOM if parent[3] & _RANDOM_TRACE_ID else _NOT_SAMPLED, trace_state))
            flags = _SAMPLED_RANDOM if parent[3] & _RANDOM_TRACE_ID else _SAMPLED
        else:
            parent, trace_state, flags = None, DEFAULT_TRACE_STATE, _SAMPLED_RANDOM  # type: ignore[assignment]
            trace_id = getrandbits(128) or 1 + getrandbits(127)  # never the invalid zero
            if trace_id & _LOW_64 >= self.provider.sample_bound:  # a new trace outside the ratio
                return NonRecordingSpan(SpanContext(  # type: ignore[return-value]
                    trace_id, getrandbits(64) or 1, False, _NOT_SAMPLED_RANDOM, trace_state))
        span_id = getrandbits(64) or 1 + getrandbits(63)
        span_class = self.span_class
        span = _new_object(span_class)  # no __init__: the fields are set here
        span.name, span.context, span.parent, span.kind = \
            name, SpanContext(trace_id, span_id, False, flags, trace_state), parent, kind
        if not attributes:
            span.attributes = {}
        elif len(attributes) <= span_class.plain_limit and _PLAIN_TYPES.issuperset(map(type, attributes.values())) \
                and _STR_TYPE.issuperset(map(type, attributes)) and "" not in attributes:
            span.attributes = dict(attributes)  # plain values under plain keys, within the limits: kept as given
        else:
            span.attributes = {}
            _put_all(span, attributes)
        span.start_time = start_time if start_time is not None else time_ns()
        if parent is not None and not parent[2] and TRANSACTION_ID not in span.attributes:
            ltx = self._transaction_id() if self._transaction_id is not None else None
            if ltx:  # a span of the transaction in progress (a transaction's own id is its span id)
                _put(span, TRANSACTION_ID, ltx)
        if links:
            for link in links:
                span.add_link(link.context, link.attributes)
        for on_start in self.provider.on_start_calls:
            on_start(span, parent_context=context)
        return span


class Provider(trace.TracerProvider):
    """The API's ``TracerProvider`` for :class:`Tracer`\\ s; spans go to its :class:`SpanProcessor`\\ s.

    ``transaction_id`` returns the LTX of the unit of work in progress (or None); every span
    that is not itself a transaction carries it as ``transaction.id``. ``sample_ratio`` is the
    share of new traces recorded (1.0, the default, records all; a caller's decision is always
    followed).
    """

    def __init__(self, limits: SpanLimits = _DEFAULT_LIMITS,
                 transaction_id: Callable[[], str | None] | None = None, sample_ratio: float = 1.0) -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError(f"sample_ratio must be between 0 and 1, not {sample_ratio!r}")
        self.sample_ratio = sample_ratio
        self.sample_bound = round(sample_ratio * 2**64)  # a trace id's low 64 bits below it: recorded
        self.limits = limits
        self.transaction_id = transaction_id
        self.processors: tuple[SpanProcessor, ...] = ()
        self.on_start_calls: tuple[Callable[..., None], ...] = ()
        self.on_end_calls: tuple[Callable[[RecordedSpan], None], ...] = ()
        self._tracers: dict[tuple[str, str | None, str | None], Tracer] = {}
        self._lock = threading.Lock()

    def get_tracer(self, instrumenting_module_name: str, instrumenting_library_version: str | None = None,
                   schema_url: str | None = None, attributes: types.Attributes = None) -> Tracer:
        key = (instrumenting_module_name, instrumenting_library_version, schema_url)
        with self._lock:
            tracer = self._tracers.get(key)
            if tracer is None:
                tracer = self._tracers[key] = Tracer(self, *key)
        return tracer

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """Tell ``processor`` of every span from now on (after the ones added before it)."""
        with self._lock:
            self.processors += (processor,)
            self.on_start_calls = tuple(p.on_start for p in self.processors
                                        if getattr(type(p), "on_start", None) is not SpanProcessor.on_start)
            self.on_end_calls = tuple(p.on_end for p in self.processors)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all([processor.force_flush(timeout_millis) for processor in self.processors])

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()
