"""Span and log records, and the ECS JSON lines made of them.

A *record* is a plain tuple of what a line needs, taken from a finished span or a log record
on the thread that made it. Plain tuples of str, int, float, bool, None and dicts of those can
be handed to the line encoder process with :mod:`marshal` (see :mod:`agents.app.encoder_process`),
which makes the lines there, off the service's GIL; :func:`span_line` and :func:`log_line`
make the same bytes in either process.

This module imports only the encoders (no OpenTelemetry, no Flask), so the encoder process
starts quickly.

Span record::

    (name, trace_id, span_id, parent_id, parent_is_remote, transaction_type,
     start_ns, end_ns, failed, attributes)

``parent_id`` is None for a span without a parent; ``transaction_type`` is the default type
should the span be a transaction (``request``, or ``job`` for a consumer); ``failed`` is True
when the span's status is ERROR.

Log record (:class:`agents.app.logs.LogEntry` has the names)::

    (created, message, level, logger, trace_id, span_id, transaction_id, error, origin)

``origin`` (may be left off) is None or ``(file_name, line, function, thread_id, thread_name)``
(:class:`telemetry.ecs.LogOrigin`).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from .encoding import LineEncoder, id_value, json_value, second_prefix

TRANSACTION_ID = "transaction.id"
_OUTCOMES = {"success": b"success", "failure": b"failure", "unknown": b"unknown"}

# A line is one ``%`` format of a template (see :mod:`agents.app.encoding`): the service prefix,
# timestamp, dataset, duration, outcome, trace id, then per kind the span fields, then the
# fields taken from attributes, each part already encoded.
_SPAN_LINE = (b'%s"@timestamp":"%s.%06dZ","event":{"dataset":"oam.span","kind":"event","duration":%d,"outcome":"%s"},'
              b'"trace":{"id":"%032x"},"parent":{"id":"%016x"},"span":{"id":"%016x",%s}%s%s,"_kind":"spans"}')
_TRANSACTION_LINE = (b'%s"@timestamp":"%s.%06dZ","event":{"dataset":"oam.transaction","kind":"event","duration":%d,'
                     b'"outcome":"%s"},"trace":{"id":"%032x"}%s,"span":{"id":"%016x"},'
                     b'"transaction":{"id":"%016x",%s}%s,"_kind":"transactions"}')
_PARENT = b',"parent":{"id":"%016x"}'
_TRANSACTION_FIELD = b',"transaction":{"id":%s}'
_TRANSACTION_FIELDS = ("labels.", "http.", "url.")  # attributes a transaction line carries as fields
_SPAN_FIELDS = ("labels.",)


def span_line(record: tuple[Any, ...], encoder: LineEncoder) -> bytes:
    """One JSON line for a span record: the fields of :mod:`telemetry.ecs`'s builders, plus ``_kind``.

    A span with no parent, or whose parent came from another process, is a transaction (its
    span id is the ``transaction.id``); any other span is a span of the transaction it ran in.
    """
    name, trace_id, span_id, parent_id, parent_is_remote, transaction_type, start, end, failed, attrs = record
    seconds, nanos = divmod(start, 1_000_000_000)
    outcome = _OUTCOMES.get(attrs["event.outcome"]) if "event.outcome" in attrs else None
    if outcome is None:
        outcome = b"failure" if failed else b"success"
    duration = end - start if end > start else 0
    if parent_id is None or parent_is_remote:
        return _TRANSACTION_LINE % (
            encoder.prefix, second_prefix(seconds), nanos // 1000, duration, outcome, trace_id,
            _PARENT % parent_id if parent_id is not None else b"", span_id, span_id,
            encoder.name_and_type(name, attrs.get("transaction.type") or transaction_type),
            encoder.attribute_fields(attrs, _TRANSACTION_FIELDS))
    ltx = attrs.get(TRANSACTION_ID)
    return _SPAN_LINE % (
        encoder.prefix, second_prefix(seconds), nanos // 1000, duration, outcome, trace_id, parent_id, span_id,
        encoder.name_and_type(name, attrs.get("span.type", "custom")),
        _TRANSACTION_FIELD % id_value(ltx) if ltx else b"",
        encoder.attribute_fields(attrs, _SPAN_FIELDS))


_LOG_LINE = (b'%s"@timestamp":"%s.%06dZ","event":{"dataset":"oam.log","kind":"event"}%s,"message":%s,'
             b'"log":{"level":%s%s%s}%s,"_kind":"logs"}')
_ORIGIN = b',"origin":{"file":{"name":%s,"line":%d},"function":%s}'
_PROCESS = b',"process":{%s"thread":{"id":%d,"name":%s}}'
_IDS = b',"trace":{"id":"%032x"},"span":{"id":"%016x"}'
_IDS_AND_TRANSACTION = b',"trace":{"id":"%032x"},"span":{"id":"%016x"},"transaction":{"id":%s}'
_LOGGER = b',"logger":%s'


def log_line(record: tuple[Any, ...], encoder: LineEncoder) -> bytes:
    """One JSON line for a log record (the fields :func:`telemetry.ecs.log_document` gives, plus ``_kind``)."""
    created, message, level, logger, trace_id, span_id, transaction_id, error = record[:8]
    origin = record[8] if len(record) > 8 else None
    seconds, micros = divmod(int(round(created * 1_000_000)), 1_000_000)
    if trace_id is None:
        ids = b""
    elif transaction_id:
        ids = _IDS_AND_TRANSACTION % (trace_id, span_id, id_value(transaction_id))
    else:
        ids = _IDS % (trace_id, span_id)
    error_field = b""
    if error:
        error_field = b',"error":' + json_value({key: value for key, value in error.items() if value is not None})
    prefix, origin_field = encoder.prefix, b""
    if origin is not None:
        file_name, line, function, thread_id, thread_name = origin
        origin_field = _ORIGIN % (encoder.name(file_name), line, encoder.name(function))
        if thread_id is not None:  # process.pid (of the prefix) and the thread in one object
            prefix = encoder.prefix_without_process
            error_field += _PROCESS % (encoder.pid_field, thread_id, encoder.name(thread_name or ""))
    return _LOG_LINE % (prefix, second_prefix(seconds), micros, ids,
                        json_value(message), encoder.level(level), _LOGGER % encoder.name(logger) if logger else b"",
                        origin_field, error_field)


LINE_FUNCTIONS: dict[str, Callable[[tuple[Any, ...], LineEncoder], bytes]] = {"spans": span_line, "logs": log_line}


class LineFormat(NamedTuple):
    """How a file's records become lines: ``kind`` names the line function, ``prefix`` is the encoded service.

    A format is plain data, so the encoder process can be told it and make the same lines.
    """

    kind: str
    prefix: bytes

    def encode_function(self) -> Callable[[tuple[Any, ...]], bytes]:
        """``record -> line`` with an encoder of its own (an encoder is for one thread at a time)."""
        return partial(LINE_FUNCTIONS[self.kind], encoder=LineEncoder.with_prefix(self.prefix))
