"""``oam bench``: every benchmark in ``bench/``, one table, and the ingest throughput chart."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from foundation.cli_options import output_option
from foundation.output import echo_json

from .report import Failure, summary, table
from .runner import BENCH_DIR, Outcome, choose, discover, elapsed, missing_chart_library, run_script

if TYPE_CHECKING:
    from oam.cli import Context

CHART_NAME = "{bench}-throughput.png"


@click.command("bench")
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Run only this benchmark (repeatable): cmdb, ingest, instrumentation, deploy, deploy_verdicts, "
                   "alerts, peer_logs, agent, dashboard; soak runs only when named.")
@click.option("--quick", is_flag=True, help="Short settings for every script (about 3 minutes in all on 2 cores).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where the JSON results, logs, report and chart go  [default: <data dir>/bench].")
@click.option("--timeout", type=float, default=40.0, show_default=True, help="Minutes one script may take.")
@click.option("--quiet", is_flag=True, help="Show progress lines only, not each script's own output.")
@click.option("--scripts", type=click.Path(file_okay=False, path_type=Path), default=BENCH_DIR,
              help="Directory of benchmark scripts  [default: the installed bench package].")
@output_option
@click.pass_obj
def bench(obj: Context, only: tuple[str, ...], quick: bool, out: Path | None, timeout: float, quiet: bool,
          scripts: Path, output: str) -> None:
    """Run the benchmarks in bench/ and print one table: figure, ours, reference, ratio, target.

    Each figure is measured beside its reference in the same run — a peer program (raw kazoo,
    raw parallel_bulk, rsyslog, prometheus-node-exporter, the backend without the app agent, raw
    Elasticsearch queries, bare SSH) or a limit — and the ratio is ours / reference.

    \b
    cmdb             reads/s, writes/s, watch latency p50/p99 vs raw kazoo
    ingest           docs/s through the collector vs raw parallel_bulk (ratio >= 0.8);
                     collector CPU per document and peak RSS; throughput-over-time chart
    instrumentation  backend requests/s with the app agent vs without (overhead <= 10%)
    deploy           rolling deploy to 1, 3, 10 sshd hosts (10 hosts <= 3x one host), rollback
    deploy_verdicts  end of a batch's bake to its telemetry verdict vs ES's own query time
    alerts           one evaluator round of 200 rules over 1M transactions vs the same
                     searches straight (ratio <= 1.2); condition true to email p95
    peer_logs        log file to searchable: agent + collector vs rsyslog (imfile ->
                     omelasticsearch): docs/s, CPU s per 100k lines, peak PSS
    agent            agent CPU and RSS vs prometheus-node-exporter (<= 1% of a core,
                     <= 60 MB); log shipping MiB/s and lines/s (>= 30 MiB/s per CPU-second)
    dashboard        page p95 vs the same raw Elasticsearch queries, 1M log documents
                     (p95 <= 300 ms; judged only with >= 1M documents)
    soak             only with --only soak: the whole suite (oam up) under load for 30
                     minutes (2 with --quick); lost/duplicated lines, PSS growth, lag

    \b
    A full run took 17 minutes on 2 shared cores (the agent's 10-minute cost run and the
    1M-document dashboard load are most of it); --quick took 3. peer_logs adds about 4
    (2 with --quick). Results go to --out:
    <name>.json and <name>.log per script, results.json, report.txt and ingest-throughput.png.
    A script that fails is shown as FAILED with its last error line, the others still run,
    and the exit code is 1. -o json prints results.json (quick, seconds, rows, failures, runs)
    and the charts instead of the table.

    \b
    Examples:
      oam bench --quick
      oam bench --only ingest --only cmdb --out ./bench-results
    """
    problem = missing_chart_library()
    if problem:
        raise click.ClickException(problem)
    try:
        found = discover(scripts)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    unknown = sorted(set(only) - set(found))
    if unknown:
        raise click.ClickException(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(found)}")
    chosen = choose(found, only)
    out = out or obj.settings.data_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))

    outcomes: list[Outcome] = []
    began = time.monotonic()
    for number, (name, script) in enumerate(chosen.items(), start=1):
        click.echo(f"[{number}/{len(chosen)}] {name}: {script.name}{' --quick' if quick else ''} "
                   f"(total elapsed {elapsed(time.monotonic() - began)})", err=True)
        outcome = run_script(name, script, out, quick, say, timeout=timeout * 60)
        state = f"FAILED, {outcome.failure}" if outcome.failure else f"{len(outcome.rows)} figures"
        click.echo(f"[{number}/{len(chosen)}] {name}: done in {elapsed(outcome.seconds)}: {state}", err=True)
        outcomes.append(outcome)

    rows = [row for outcome in outcomes for row in outcome.rows]
    failures = [Failure(outcome.name, outcome.failure) for outcome in outcomes if outcome.failure]
    charts = []
    for outcome in outcomes:
        if "throughput" in outcome.series:
            charts.append(_chart(outcome, out, failures))
    report = "\n".join([table(rows, failures), "", summary(rows, failures)])
    (out / "report.txt").write_text(report + "\n")
    results = {"quick": quick, "seconds": round(time.monotonic() - began, 1), "rows": rows,
               "failures": [{"bench": failure.bench, "reason": failure.reason} for failure in failures],
               "runs": {outcome.name: round(outcome.seconds, 1) for outcome in outcomes}}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    if output == "json":
        echo_json({**results, "charts": [str(chart) for chart in charts if chart]})
    else:
        click.echo(report)
        for chart in filter(None, charts):
            click.echo(f"throughput chart: {chart}")
    click.echo(f"results in {out} (whole run {elapsed(time.monotonic() - began)})", err=True)
    sys.exit(1 if failures else 0)


def _chart(outcome: Outcome, out: Path, failures: list[Failure]) -> Path | None:
    from .chart import throughput_chart  # matplotlib only when there is something to draw

    try:
        return throughput_chart(outcome.series["throughput"], out / CHART_NAME.format(bench=outcome.name))
    except (ValueError, KeyError, TypeError, OSError) as exc:
        failures.append(Failure(outcome.name, f"chart not drawn: {exc}"))
        return None
