"""What to do with an Elasticsearch answer: a pure function from a response or an exception to a verdict.

Per item of a bulk response (:func:`classify_item`):

* 2xx                                   -> ``DELIVERED``
* 409 version conflict on ``create``    -> ``DELIVERED`` (the same ``_id`` is already indexed)
* 429, 5xx, 401/403                     -> ``RETRY`` (back off; keep the document, spool it if need be)
* mapping and parsing errors, other 4xx -> ``DEAD_LETTER`` (retrying cannot help; keep the reason)

For a whole request that failed (:func:`classify_exception`): no answer at all (connection refused,
timeout), 429, 5xx, 401/403 -> ``RETRY``; any other 4xx -> ``DEAD_LETTER`` for every item in it.
Nothing here performs I/O, so it is tested with real Elasticsearch error bodies. How long to wait
between retries is :class:`foundation.waiting.Backoff`'s (full jitter), used by the sink.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Verdict(str, Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""


RETRYABLE_STATUSES = frozenset({401, 403, 408, 429})


def error_reason(error: Any) -> str:
    """``type: reason`` from an Elasticsearch error object (with its innermost cause), or the text."""
    if isinstance(error, Mapping):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
        cause = error.get("caused_by")
        if isinstance(cause, Mapping):
            text += f" (caused by {error_reason(cause)})"
        return text
    return str(error) if error is not None else ""


def classify_status(status: int | None, error: Any = None) -> Decision:
    """The verdict for one status code and error body."""
    reason = error_reason(error)
    if status is None:
        return Decision(Verdict.RETRY, reason or "no answer from Elasticsearch")
    if 200 <= status < 300:
        return Decision(Verdict.DELIVERED)
    if status == 409:
        return Decision(Verdict.DELIVERED, "already indexed (version conflict on create)")
    if status in RETRYABLE_STATUSES or status >= 500:
        return Decision(Verdict.RETRY, reason or f"HTTP {status}")
    return Decision(Verdict.DEAD_LETTER, reason or f"HTTP {status}")


def classify_item(item: Mapping[str, Any]) -> Decision:
    """One entry of a bulk response's ``items`` (``{"create": {...}}``) or of the bulk helpers' output."""
    if len(item) == 1 and isinstance(next(iter(item.values())), Mapping):
        item = next(iter(item.values()))
    status = item.get("status")
    return classify_status(status if isinstance(status, int) else None, item.get("error"))


def classify_response(body: Mapping[str, Any]) -> list[Decision]:
    """Every item of a bulk response body, in order."""
    return [classify_item(item) for item in body.get("items", [])]


def classify_exception(exc: BaseException) -> Decision:
    """A whole bulk request that raised: ``ApiError`` carries a status, transport errors none."""
    status = getattr(exc, "status_code", None)
    if status is None:
        meta = getattr(exc, "meta", None)
        status = getattr(meta, "status", None)
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, Mapping) else None
    text = getattr(exc, "message", None) or str(exc)
    decision = classify_status(status if isinstance(status, int) else None, error or f"{type(exc).__name__}: {text}")
    if decision.verdict is Verdict.DELIVERED:  # a raised 2xx/409 is not a delivery of every item
        return Decision(Verdict.RETRY, decision.reason or str(exc))
    return decision

