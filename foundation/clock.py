"""UTC time, and its ISO 8601 text with a ``Z`` (``2026-12-02T06:10:00Z``) as the suite writes it.

Usage::

    utc_now()                              # an aware datetime in UTC
    utc_now_iso()                          # "2026-12-02T06:10:00Z"
    utc_now_iso("milliseconds")            # "2026-12-02T06:10:00.123Z"
    utc_iso(started, "microseconds")       # a datetime or POSIX seconds, in the same form
"""
from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """Now, as an aware datetime in UTC."""
    return datetime.now(timezone.utc)


def utc_iso(moment: datetime | float, timespec: str = "seconds") -> str:
    """``moment`` (an aware datetime, or POSIX seconds) in UTC as ISO 8601 ending in ``Z``.

    ``timespec`` is :meth:`datetime.isoformat`'s: ``seconds``, ``milliseconds``, ``microseconds``...
    """
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now_iso(timespec: str = "seconds") -> str:
    """Now in UTC as ISO 8601 ending in ``Z`` (see :func:`utc_iso`)."""
    return utc_iso(utc_now(), timespec)
