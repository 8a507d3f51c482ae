"""The figures a benchmark script reports, and how it writes them for ``oam bench``.

Every script in ``bench/`` keeps its own human output and, given ``--json PATH``, also writes::

    {"bench": "cmdb", "settings": {...}, "rows": [Row.to_json(), ...], "series": {...}}

Usage in a script::

    args = script_arguments(parser, quick={"seconds": 1.0})
    ...
    write_results(args, "cmdb", [Row("cmdb", "reads/s", ours, "ops/s", raw, "raw kazoo get")])
"""
from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

OPERATORS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


@dataclass(frozen=True)
class Target:
    """A goal for one figure: the figure ``on`` (``"ours"`` or ``"ratio"``) ``op`` ``value``.

    ``text`` is how the goal is stated to users (``"overhead <= 10%"``) when it reads better than
    the bare comparison; ``unjudged`` says why a run cannot judge it (too little data, say).
    """

    on: str
    op: str
    value: float
    text: str = ""
    unjudged: str = ""

    def __post_init__(self) -> None:
        if self.on not in ("ours", "ratio") or self.op not in OPERATORS:
            raise ValueError(f"bad target {self.on} {self.op} {self.value}")

    def met(self, ours: float, ratio: float | None) -> bool | None:
        """True or False, or None when this run cannot judge it (no ratio, or ``unjudged``)."""
        value = ours if self.on == "ours" else ratio
        if self.unjudged or value is None or math.isnan(value):
            return None
        return OPERATORS[self.op](value, self.value)

    def describe(self) -> str:
        return self.text or f"{self.on} {self.op} {self.value:g}"

    def not_judged(self, reason: str) -> Target:
        return replace(self, unjudged=reason)


@dataclass(frozen=True)
class Row:
    """One figure: ours beside its reference (a peer program measured in the same run, or a limit)."""

    bench: str
    figure: str
    ours: float
    unit: str
    reference: float | None = None
    reference_name: str = ""
    target: Target | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """ours / reference, or None without a (non-zero) reference."""
        if self.reference is None or self.reference == 0:
            return None
        return self.ours / self.reference

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ours, self.ratio)

    def to_json(self) -> dict:
        return {"bench": self.bench, "figure": self.figure, "ours": _number(self.ours),
                "reference": _number(self.reference), "reference_name": self.reference_name, "unit": self.unit,
                "ratio": _number(self.ratio),
                "target": None if self.target is None else self.target.describe(), "met": self.met,
                **({"not_judged": self.target.unjudged} if self.target and self.target.unjudged else {}),
                **self.extra}


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a figure that could not be measured is null."""
    return None if value is None or not math.isfinite(value) else float(value)


def script_arguments(parser: argparse.ArgumentParser, quick: dict[str, object],
                     argv: list[str] | None = None) -> argparse.Namespace:
    """Add ``--json PATH`` and ``--quick`` (the short ``quick`` defaults; explicit options still win)."""
    shown = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in quick.items())
    parser.add_argument("--json", type=Path, metavar="PATH", help="Also write the figures as JSON rows to PATH.")
    parser.add_argument("--quick", action="store_true", help=f"Short settings for a quick run: {shown}.")
    known, _ = parser.parse_known_args(argv)
    if known.quick:
        parser.set_defaults(**quick)
    return parser.parse_args(argv)


def write_results(args: argparse.Namespace, bench: str, rows: list[Row], series: dict | None = None) -> None:
    """Write the rows (and any time series) to ``args.json``, atomically; nothing without ``--json``."""
    if args.json is None:
        return
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"}
    document = {"bench": bench, "settings": settings, "rows": [row.to_json() for row in rows]}
    if series:
        document["series"] = series
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1, allow_nan=False))
    os.replace(partial, path)
