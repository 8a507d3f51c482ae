"""Time ranges from query strings: ``now-15m`` .. ``now``, Elasticsearch-style rounding (``now-1d/d``),
or ISO 8601 instants, bounded and checked."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_RELATIVE = re.compile(r"^now(?:-(\d{1,9})([smhdw]))?(?:/([smhdw]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_SPAN = timedelta(days=31)
MAX_TEXT = 64
DEFAULT_FROM = "now-1h"


class BadTimeRange(ValueError):
    """A time range that cannot be used; the message says why."""


def round_down(moment: datetime, unit: str) -> datetime:
    """The start of ``moment``'s second, minute, hour, day or (Monday-based) week, in UTC."""
    fields = {"s": {"microsecond": 0}, "m": {"second": 0, "microsecond": 0},
              "h": {"minute": 0, "second": 0, "microsecond": 0}}
    day = {"hour": 0, "minute": 0, "second": 0, "microsecond": 0}
    start = moment.replace(**fields.get(unit, day))
    return start - timedelta(days=start.weekday()) if unit == "w" else start


def parse_instant(text: str, now: datetime, what: str = "the time", round_up: bool = False) -> datetime:
    """``now``, ``now-<n><s|m|h|d|w>``, either rounded with ``/<unit>`` (down; to the unit's end when
    ``round_up``, as Elasticsearch rounds an upper bound) or an ISO 8601 instant (UTC if no offset)."""
    text = text.strip()
    bad = BadTimeRange(f"bad time in {what}: {text[:MAX_TEXT]!r}; use now, now-15m, now-2h, now-7d, now-1d/d or an ISO 8601 time "
                       "(years 1 to 9999)")
    if len(text) > MAX_TEXT:
        raise bad
    match = _RELATIVE.match(text)
    try:
        if match:
            amount, unit, rounding = match.groups()
            moment = now - timedelta(**{_UNITS[unit]: int(amount)}) if amount else now
            if not rounding:
                return moment
            start = round_down(moment, rounding)
            return start + timedelta(**{_UNITS[rounding]: 1}) - timedelta(milliseconds=1) if round_up else start
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
        upper = parse_instant(end or "now", now, "to", round_up=True)
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
