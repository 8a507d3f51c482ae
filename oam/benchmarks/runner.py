"""Run the scripts in ``bench/`` one after the other, each as a subprocess, and collect their JSON.

The scripts are the installed ``bench`` package's modules (:data:`BENCH_DIR`), wherever it is
installed; ``--scripts`` may name another directory.

Each script runs with the same Python as ``oam``, with ``--json <out>/<name>.json`` (and
``--quick`` when asked). Its output goes to ``<out>/<name>.log`` and, line by line with the
elapsed time, to ``say``; a silent script still gets a line every ``heartbeat`` seconds.
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _installed_scripts() -> Path:
    """The directory of the installed ``bench`` package, found without importing it."""
    spec = importlib.util.find_spec("bench")
    if spec is None or spec.origin is None:
        return Path("bench")  # not installed: discover() says there are no scripts there
    return Path(spec.origin).parent


BENCH_DIR = _installed_scripts()
# Quick ones first, so a short look at the report does not wait for the long ones.
ORDER = ("cmdb", "ingest", "instrumentation", "deploy", "deploy_verdicts", "alerts", "peer_logs", "agent", "dashboard")
# Run only when named with --only: the soak runs the whole suite for 30 minutes.
ON_REQUEST = ("soak",)
INTERRUPT_GRACE = 90.0  # seconds a script gets to stop the services it started


@dataclass
class Outcome:
    """What one script left: its rows and series, or why it failed."""

    name: str
    seconds: float
    rows: list[dict] = field(default_factory=list)
    series: dict = field(default_factory=dict)
    failure: str | None = None


def discover(bench_dir: Path = BENCH_DIR) -> dict[str, Path]:
    """The benchmark scripts by name, in :data:`ORDER` and then alphabetically."""
    if not bench_dir.is_dir():
        raise FileNotFoundError(f"no benchmark scripts at {bench_dir} (not a directory)")
    scripts = {path.stem: path for path in sorted(bench_dir.glob("*.py")) if not path.name.startswith("_")}
    if not scripts:
        raise FileNotFoundError(f"no benchmark scripts (*.py) in {bench_dir}")
    rank = {name: index for index, name in enumerate(ORDER)}
    return dict(sorted(scripts.items(), key=lambda item: (rank.get(item[0], len(ORDER)), item[0])))


def choose(found: dict[str, Path], only: tuple[str, ...] = ()) -> dict[str, Path]:
    """The scripts to run: those named in ``only``, in :func:`discover`'s order, else all but :data:`ON_REQUEST`."""
    return {name: path for name, path in found.items() if name in only or (not only and name not in ON_REQUEST)}


def missing_chart_library() -> str | None:
    """What to install, in one line, when matplotlib (the ``bench`` extra) is missing; else None."""
    if importlib.util.find_spec("matplotlib") is None:
        return "oam bench draws its charts with matplotlib, which is not installed: pip install 'oam-suite[bench]'"
    return None


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def run_script(name: str, script: Path, out: Path, quick: bool, say: Callable[[str], None],
               timeout: float | None = None, heartbeat: float = 30.0) -> Outcome:
    """Run one script to the end (or ``timeout``) and read the JSON it wrote."""
    result_path, log_path = out / f"{name}.json", out / f"{name}.log"
    result_path.unlink(missing_ok=True)
    argv = [sys.executable, str(script), "--json", str(result_path), *(["--quick"] if quick else [])]
    began = time.monotonic()
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    last_error = ""
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, cwd=script.parent.parent, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        readers = [threading.Thread(target=_pump, args=(stream, label, lines), daemon=True)
                   for stream, label in ((process.stdout, "out"), (process.stderr, "err"))]
        for reader in readers:
            reader.start()
        open_streams, timed_out = 2, False
        try:
            while open_streams:
                try:
                    label, line = lines.get(timeout=heartbeat)
                except queue.Empty:
                    if process.poll() is not None:
                        break  # it exited, but something it started still holds its output open
                    say(f"  {name} {elapsed(time.monotonic() - began)} | (still running)")
                else:
                    if line is None:
                        open_streams -= 1
                        continue
                    log.write(line + "\n")
                    log.flush()
                    say(f"  {name} {elapsed(time.monotonic() - began)} | {line}")
                    if label == "err" and line.strip():
                        last_error = line.strip()
                if timeout is not None and time.monotonic() - began > timeout:
                    timed_out = True
                    _stop(process)
                    break
            process.wait()
        except BaseException:
            _stop(process)  # Ctrl-C: let the script stop its own services, then make sure it is gone
            raise
    seconds = time.monotonic() - began
    if timed_out:
        return Outcome(name, seconds, failure=f"timed out after {elapsed(seconds)}; see {log_path}")
    if process.returncode != 0:
        return Outcome(name, seconds, failure=f"exit {process.returncode}: {last_error or 'no error output'}")
    return _read(name, seconds, result_path)


def _read(name: str, seconds: float, path: Path) -> Outcome:
    try:
        document = json.loads(path.read_text())
        rows = document["rows"]
        if not isinstance(rows, list) or not rows:
            raise ValueError("no rows")
        for row in rows:
            for key in ("bench", "figure", "ours", "unit"):
                if key not in row:
                    raise ValueError(f"a row has no {key!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Outcome(name, seconds, failure=f"exit 0 but no usable results in {path}: {exc}")
    return Outcome(name, seconds, rows=rows, series=document.get("series") or {})


def _pump(stream, label: str, lines: queue.Queue) -> None:
    for line in stream:
        lines.put((label, line.rstrip("\n")))
    lines.put((label, None))


def _stop(process: subprocess.Popen) -> None:
    """SIGINT first (the script's ``finally`` stops its Elasticsearch, sshd...), then SIGKILL its group."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
