"""The app agent's fast path (byte templates in agents/app/lines.py) writes the builders' documents.

For any span or log record, ``json.loads`` of the line :func:`agents.app.lines.span_line` or
:func:`~agents.app.lines.log_line` makes equals what :mod:`telemetry.ecs` builds from the same
values, plus the line's ``_kind``: timestamps to the microsecond (spans truncate nanoseconds,
as ECS keeps microseconds), ids, outcome, attributes as nested fields and one-level labels.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.app.encoding import LineEncoder
from agents.app.lines import log_line, span_line
from telemetry.context import TraceIds
from telemetry.ecs import LogOrigin, ServiceInfo, log_document, span_document, transaction_document

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any text but lone surrogates (Python's logging can carry them; JSON as UTF-8 cannot): unicode,
# quotes, backslashes and control characters included.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
tricky = st.one_of(texts, st.sampled_from(['"', "\\", "\n\t\r\x00\x1f\x7f", "\u2028\u2029", "é 😀 中", "</script>"]))
hosts = st.fixed_dictionaries({"ip": st.lists(st.ip_addresses().map(str), max_size=2),
                               "os": st.fixed_dictionaries({"type": tricky, "name": tricky}), "architecture": tricky})
services = st.builds(ServiceInfo, name=tricky, version=tricky, environment=tricky, host_name=tricky,
                     agent_id=st.one_of(st.just(""), tricky), agent_type=st.one_of(st.just(""), tricky),
                     agent_version=st.one_of(st.just(""), tricky), host=st.one_of(st.none(), hosts),
                     pid=st.one_of(st.none(), st.integers(1, 2**22)))
trace_ids = st.integers(1, 2**128 - 1)
span_ids = st.integers(1, 2**64 - 1)
ltx_ids = span_ids.map(lambda n: f"{n:016x}")
# Attribute values as OpenTelemetry allows them (finite floats: JSON has no NaN).
scalars = st.one_of(tricky, st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False))
values = st.one_of(scalars, st.lists(st.one_of(tricky, st.integers(-(2**63), 2**63 - 1)), max_size=3))
segments = st.text(st.sampled_from("abcz_é"), min_size=1, max_size=3)
dotted = st.lists(segments, min_size=1, max_size=3).map(".".join)
attribute_keys = st.one_of(
    st.builds("labels.{}".format, st.one_of(dotted, tricky)),  # labels: one level, any key
    st.builds("http.{}".format, dotted), st.builds("url.{}".format, dotted),
    st.sampled_from(["db.statement", "span.type", "transaction.type", "event.outcome", "code.lineno"]))


def _no_clash(attrs: dict) -> bool:
    """No two nested keys where one is the other's object (``http.a`` and ``http.a.b``): JSON holds one."""
    nested = [key for key in attrs if key.startswith(("http.", "url."))]
    return not any(b.startswith(a + ".") for a in nested for b in nested if a != b)


def _attribute_value(key: str) -> st.SearchStrategy:
    if key == "event.outcome":
        return st.sampled_from(["success", "failure", "unknown", "bogus"])
    if key in ("span.type", "transaction.type"):
        return st.one_of(tricky.filter(bool), st.just(""))
    return values


attributes = st.lists(attribute_keys, max_size=6, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({key: _attribute_value(key) for key in keys})).filter(_no_clash)
nanos = st.integers(0, 4_102_444_800 * 10**9)  # 1970 to 2100


def _under(attrs: dict, prefix: str) -> dict:
    return {key[len(prefix):]: value for key, value in attrs.items() if key.startswith(prefix)}


@EXAMPLES
@given(service=services, name=tricky, trace=trace_ids, span_id=span_ids,
       parent=st.one_of(st.none(), span_ids), remote=st.booleans(), default_type=st.sampled_from(["request", "job"]),
       start=nanos, took=st.integers(-10**9, 10**12), failed=st.booleans(), attrs=attributes,
       ltx=st.one_of(st.none(), ltx_ids))
def test_span_lines_are_the_builders_documents(service, name, trace, span_id, parent, remote, default_type,
                                               start, took, failed, attrs, ltx) -> None:
    if ltx is not None:
        attrs = {**attrs, "transaction.id": ltx}
    record = (name, trace, span_id, parent, remote, default_type, start, start + took, failed, attrs)
    line = span_line(record, LineEncoder(service))

    at = EPOCH + timedelta(microseconds=start // 1000)
    outcome = attrs.get("event.outcome")
    if outcome not in ("success", "failure", "unknown"):
        outcome = "failure" if failed else "success"
    parent_hex = None if parent is None else f"{parent:016x}"
    if parent is None or remote:  # a transaction: its own span id is its transaction id
        ids = TraceIds(f"{trace:032x}", f"{span_id:016x}", f"{span_id:016x}", parent_hex)
        expected = transaction_document(service, name, attrs.get("transaction.type") or default_type, ids,
                                        duration_ns=max(took, 0), outcome=outcome, at=at,
                                        http=_under(attrs, "http."), url=_under(attrs, "url."),
                                        labels=_under(attrs, "labels."))
        kind = "transactions"
    else:
        ids = TraceIds(f"{trace:032x}", ltx, f"{span_id:016x}", parent_hex)
        expected = span_document(service, name, attrs.get("span.type", "custom"), ids, duration_ns=max(took, 0),
                                 outcome=outcome, at=at, labels=_under(attrs, "labels."))
        kind = "spans"
    assert json.loads(line) == {**expected, "_kind": kind}


errors = st.fixed_dictionaries({"type": tricky, "message": tricky, "stack_trace": tricky})
# Level names as logging gives them: its five, names an application gave with logging.addLevelName
# (normalised at the source, as the builder does), and "Level N" for a number it has no name for.
levels = st.one_of(st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "WARN", "FATAL", "Notice"]),
                   st.integers(1, 60).map("Level {}".format))
# log.origin.* and the thread, as logging gives them (no thread when logThreads is off).
origins = st.tuples(tricky, st.integers(0, 10**6), tricky, st.one_of(st.none(), st.integers(0, 2**64 - 1)), tricky
                    ).map(lambda o: o if o[3] is not None else (*o[:4], None))


@EXAMPLES
@given(service=services, micros=st.integers(0, 2**51 - 1), message=tricky, level=levels,
       logger=st.one_of(st.just(""), tricky), trace=st.one_of(st.none(), trace_ids), span_id=span_ids,
       ltx=st.one_of(st.none(), ltx_ids), error=st.one_of(st.none(), errors), origin=st.one_of(st.none(), origins))
def test_log_lines_are_the_builders_documents(service, micros, message, level, logger, trace, span_id, ltx,
                                              error, origin) -> None:
    created = micros / 1_000_000  # a LogRecord's float seconds
    record = (created, message, level, logger, trace, span_id if trace else None, ltx if trace else None, error,
              origin)
    line = log_line(record, LineEncoder(service))

    ids = TraceIds(f"{trace:032x}", ltx, f"{span_id:016x}") if trace else None
    expected = log_document(service, message, level, logger, at=EPOCH + timedelta(microseconds=micros),
                            ids=ids, error=error, origin=LogOrigin(*origin) if origin else None)
    assert json.loads(line) == {**expected, "_kind": "logs"}
