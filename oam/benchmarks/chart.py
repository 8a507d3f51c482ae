"""The throughput-over-time chart of a pipeline benchmark, as a PNG (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def mean_rate(points: list[list[float]]) -> float:
    """The phase's rate over its whole length, from samples of ``[end second, rate since the last sample]``."""
    done, last = 0.0, 0.0
    for second, rate in points:
        done += rate * (second - last)
        last = second
    return done / last if last else 0.0


def throughput_chart(series: dict, path: Path) -> Path:
    """Draw one line per phase: seconds since the phase began on x, documents per second on y.

    ``series`` is what ``bench/ingest.py`` writes under ``series.throughput``:
    ``{"title", "unit", "interval", "phases": [{"name", "points": [[seconds, rate], ...]}]}``.
    """
    phases = [phase for phase in series.get("phases", []) if phase.get("points")]
    if not phases:
        raise ValueError("no throughput samples to draw")
    figure = Figure(figsize=(10, 5), layout="constrained")
    axes = figure.subplots()
    for phase in phases:
        seconds = [0.0, *(point[0] for point in phase["points"])]
        rates = [phase["points"][0][1], *(point[1] for point in phase["points"])]
        label = f"{phase['name']} (mean {mean_rate(phase['points']):,.0f})"
        axes.step(seconds, rates, where="pre", label=label, linewidth=1.6)
    axes.set_title(series.get("title", "Throughput over time"))
    axes.set_xlabel("seconds since the phase began")
    unit = series.get("unit", "docs/s")
    axes.set_ylabel(f"{unit} (per {series.get('interval', '?')} s)")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="phase")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, format="png")
    return path
