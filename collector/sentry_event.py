"""The part of a Sentry event the collector reads, type-checked with pydantic.

Usage::

    event, dropped = read_event(payload_dict)     # SentryError(400) names a bad core field
    event.exception.values[-1].type, dropped      # e.g. ["tags: Input should be a valid dictionary"]

Sentry's own server normalizes events: a field of the wrong type is removed, the problem noted,
and the event kept. The collector does the same for the fields that only describe an event
(``tags``, ``contexts``, ``contexts.trace``, ``logentry``, ``message``, ``release``, ``level``,
``event_id``, ...): each malformed one is dropped and named in ``dropped``. The two fields an
error document cannot do without are checked strictly: a malformed ``exception`` (nothing left to
group) or ``timestamp`` (nowhere to put it on the timeline) is refused, naming the field.
Numbers are taken as text where the protocol has text (``"value": 42``); a ``logentry`` may be a
plain string and ``exception`` a bare list of values, as older SDKs send them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from .limits import Bounds, LimitError

STRICT_FIELDS = ("exception", "timestamp")


class SentryError(ValueError):
    """The request is not a Sentry event the collector can read; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


def _event_id(value: str) -> str:
    value = value.replace("-", "").lower()
    if len(value) != 32 or any(char not in "0123456789abcdef" for char in value):
        raise ValueError("expected 32 hex digits (a UUID)")
    return value


def _pairs_to_dict(value: Any) -> Any:
    """Tags may come as ``[[key, value], ...]``."""
    if isinstance(value, list) and all(isinstance(pair, list) and len(pair) == 2 for pair in value):
        return {str(key): tag for key, tag in value}
    return value


def _text_to_logentry(value: Any) -> Any:
    return {"formatted": value} if isinstance(value, str) else value


class Frame(_Lenient):
    module: str | None = None
    filename: str | None = None
    abs_path: str | None = None
    function: str | None = None
    lineno: int | str | None = None
    colno: int | str | None = None
    context_line: str | None = None
    in_app: bool | None = None


class Stacktrace(_Lenient):
    frames: list[Frame] | None = None


class ExceptionValue(_Lenient):
    type: str | None = None
    value: str | None = None
    stacktrace: Stacktrace | None = None


class ExceptionInterface(_Lenient):
    values: list[ExceptionValue] | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        return {"values": value} if isinstance(value, list) else value


class LogEntry(_Lenient):
    formatted: str | None = None
    message: str | None = None


class TraceContext(_Lenient):
    trace_id: str | None = None
    span_id: str | None = None


class Contexts(_Lenient):
    trace: TraceContext | None = None


class SentryEvent(_Lenient):
    event_id: Annotated[str, AfterValidator(_event_id)] | None = None
    timestamp: float | str | None = None
    exception: ExceptionInterface | None = None
    logentry: Annotated[LogEntry, BeforeValidator(_text_to_logentry)] | None = None
    message: Annotated[LogEntry, BeforeValidator(_text_to_logentry)] | None = None
    contexts: Contexts | None = None
    tags: Annotated[dict[str, str | None], BeforeValidator(_pairs_to_dict)] | None = None
    release: str | None = None
    environment: str | None = None
    server_name: str | None = None
    level: str | None = None
    logger: str | None = None
    platform: str | None = None

    def moment(self, bounds: Bounds) -> datetime | None:
        """The event's time (None: not given), or SentryError naming ``timestamp``."""
        value = self.timestamp
        if value is None or value == "":
            return None
        try:
            if isinstance(value, float):
                moment = datetime.fromtimestamp(value, timezone.utc)
            else:
                moment = datetime.fromisoformat(value)
                moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise SentryError(400, f"event field timestamp: {value!r} is not a time (seconds since the epoch "
                                   "or RFC 3339 text)") from None
        try:
            bounds.check_time(moment, "timestamp")
        except LimitError as exc:
            raise SentryError(400, f"event field {exc}") from None
        return moment


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "event"


def _dropped_path(loc: tuple[Any, ...]) -> tuple[str, ...]:
    """What to remove for an error at ``loc``: the top field, or one context (``contexts.trace``)."""
    return (str(loc[0]), str(loc[1])) if loc[0] == "contexts" and len(loc) > 1 else (str(loc[0]),)


def read_event(data: Any) -> tuple[SentryEvent, list[str]]:
    """``data`` as a :class:`SentryEvent`, and one line per dropped field (see the module's docstring)."""
    if not isinstance(data, dict):
        raise SentryError(400, f"event is not a JSON object (got {type(data).__name__})")
    event = dict(data)
    dropped: list[str] = []
    while True:
        try:
            return SentryEvent.model_validate(event), dropped
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        for error in errors:
            loc = tuple(error["loc"])
            if not loc or loc[0] in STRICT_FIELDS:
                raise SentryError(400, f"event field {_where(loc)}: {error['msg']}") from None
        before = len(dropped)
        for error in errors:
            loc = tuple(error["loc"])
            path = _dropped_path(loc)
            if len(path) == 2 and isinstance(event.get(path[0]), dict) and path[1] in event[path[0]]:
                event[path[0]] = {key: value for key, value in event[path[0]].items() if key != path[1]}
            elif len(path) == 1 and path[0] in event:
                del event[path[0]]
            else:
                continue
            dropped.append(f"{_where(loc)}: {error['msg']}")
        if len(dropped) == before:  # nothing left to drop: refuse rather than loop
            raise SentryError(400, f"event field {_where(tuple(errors[0]['loc']))}: {errors[0]['msg']}")
