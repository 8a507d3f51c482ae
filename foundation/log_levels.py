"""The canonical ``log.level`` names, and every other spelling of them read as one.

Kept free of any dependency, so that the app agent's line encoder process, which runs without
OpenTelemetry, normalises levels exactly as :mod:`telemetry.ecs` does.
"""
from __future__ import annotations

LEVELS = ("debug", "info", "warning", "error", "critical")
"""The canonical ``log.level`` values: Python's level names, lowercased."""
# Other languages' and syslog's names for them (Java, .NET, Go, OpenTelemetry severity texts).
_LEVEL_ALIASES = {"trace": "debug", "finest": "debug", "finer": "debug", "fine": "debug", "verbose": "debug",
                  "notice": "info", "information": "info", "informational": "info",
                  "warn": "warning", "err": "error", "severe": "error",
                  "crit": "critical", "fatal": "critical", "alert": "critical", "emerg": "critical",
                  "emergency": "critical", "panic": "critical"}


def log_level(name: str | int) -> str:
    """A level name from any source (``WARN``, ``Warning``, ``FATAL``, a number) as one of :data:`LEVELS`.

    Numbers are Python's (``30`` -> ``warning``); a name this does not know is kept, lowercased.
    """
    if isinstance(name, int):
        for floor, level in ((50, "critical"), (40, "error"), (30, "warning"), (20, "info")):
            if name >= floor:
                return level
        return "debug"
    lowered = name.strip().lower()
    return _LEVEL_ALIASES.get(lowered, lowered)


def level_spellings(level: str) -> tuple[str, ...]:
    """``level`` (one of :data:`LEVELS`) and every name :func:`log_level` reads as it, for queries
    over documents written before levels were canonical (``warning`` -> ``("warning", "warn")``)."""
    return (level, *sorted(alias for alias, canonical in _LEVEL_ALIASES.items() if canonical == level))
