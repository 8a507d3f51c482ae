"""The one table of ``oam bench``: every figure beside its reference, the ratio and the target."""
from __future__ import annotations

from dataclasses import dataclass

from foundation.output import table as text_table

HEADERS = ("bench", "figure", "ours", "reference", "ratio", "target", "met")


@dataclass(frozen=True)
class Failure:
    """A benchmark script that did not produce its figures."""

    bench: str
    reason: str


def number(value: float | None) -> str:
    """A figure with as many digits as it deserves: 12,345 / 123.4 / 12.3 / 1.23 / 0.123."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}" if value else "0"


def met_label(row: dict) -> str:
    """yes / NO; n/a for a target this run could not judge; - without a target."""
    if row.get("met") is None:
        return "n/a" if row.get("target") else "-"
    return "yes" if row["met"] else "NO"


def cells(row: dict) -> tuple[str, ...]:
    """The table cells of one JSON row as the scripts write it (see :mod:`oam.benchmarks.results`)."""
    unit = f" {row['unit']}" if row.get("unit") else ""
    ours = number(row["ours"]) + unit
    if row.get("reference") is None:
        reference = "-"
    else:
        named = f" ({row['reference_name']})" if row.get("reference_name") else ""
        reference = number(row["reference"]) + unit + named
    ratio = "-" if row.get("ratio") is None else f"{row['ratio']:.2f}x"
    return (row["bench"], row["figure"], ours, reference, ratio, row.get("target") or "-", met_label(row))


def table(rows: list[dict], failures: list[Failure] = ()) -> str:
    """Rows in the order given, then one line per failed script; columns sized to their contents."""
    lines = [cells(row) for row in rows]
    out = [text_table(lines, headers=HEADERS, align=["right" if i in (2, 3, 4) else "left" for i in range(7)])]
    width = max([len(HEADERS[0]), *(len(line[0]) for line in lines)]) if lines else 0
    out += [f"{failure.bench.ljust(width)}  FAILED: {failure.reason}" for failure in failures]
    return "\n".join(out)


def summary(rows: list[dict], failures: list[Failure] = ()) -> str:
    """One line: how many figures, how many targets met or not, which scripts failed."""
    judged = [row["met"] for row in rows if row.get("met") is not None]
    missed = [f"{row['bench']}: {row['figure']}" for row in rows if row.get("met") is False]
    text = (f"{len(rows)} figures; targets met {judged.count(True)} of {len(judged)} judged"
            + (f" (not met: {'; '.join(missed)})" if missed else ""))
    unjudged = sorted({f"{row['bench']} ({row['not_judged']})" for row in rows if row.get("not_judged")})
    if unjudged:
        text += f"; not judged: {', '.join(unjudged)}"
    if failures:
        text += f"; failed: {', '.join(failure.bench for failure in failures)}"
    return text + ". ratio = ours / reference."
