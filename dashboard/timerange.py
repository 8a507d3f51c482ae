"""Time ranges from query strings: ``now-15m`` .. ``now``, or ISO 8601 instants, bounded and checked."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_RELATIVE = re.compile(r"^now(?:-(\d{1,9})([smhd]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MAX_SPAN = timedelta(days=31)
MAX_TEXT = 64
DEFAULT_FROM = "now-1h"


class BadTimeRange(ValueError):
    """A time range that cannot be used; the message says why."""


def parse_instant(text: str, now: datetime, what: str = "the time") -> datetime:
    """``now``, ``now-<n><s|m|h|d>`` or an ISO 8601 instant (UTC if no offset), within the calendar."""
    text = text.strip()
    bad = BadTimeRange(f"bad time in {what}: {text[:MAX_TEXT]!r}; use now, now-15m, now-2h, now-7d or an ISO 8601 time "
                       "(years 1 to 9999)")
    if len(text) > MAX_TEXT:
        raise bad
    match = _RELATIVE.match(text)
    try:
        if match:
            amount, unit = match.groups()
            return now - timedelta(**{_UNITS[unit]: int(amount)}) if amount else now
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):  # not a time, or one before year 1 / after 9999 (in UTC)
        raise bad from None


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str | None, end: str | None, now: datetime | None = None) -> TimeRange:
        now = now or datetime.now(timezone.utc)
        lower = parse_instant(start or DEFAULT_FROM, now, "from")
        upper = parse_instant(end or "now", now, "to")
        try:
            span = upper - lower
        except OverflowError:  # instants at both ends of the calendar
            raise BadTimeRange(f"bad time range: at most {MAX_SPAN.days} days at once") from None
        if lower >= upper:
            raise BadTimeRange(f"bad time range: from ({start or DEFAULT_FROM}) must be before to ({end or 'now'})")
        if span > MAX_SPAN:
            raise BadTimeRange(f"bad time range: at most {MAX_SPAN.days} days at once")
        return cls(lower, upper)

    def query(self, field: str = "@timestamp") -> dict:
        return {"range": {field: {"gte": self.start.isoformat(), "lte": self.end.isoformat()}}}

    def interval(self, buckets: int = 60) -> str:
        """A fixed date_histogram interval giving about ``buckets`` buckets (at least one second)."""
        seconds = max(1, int((self.end - self.start).total_seconds() // buckets))
        return f"{seconds}s"
