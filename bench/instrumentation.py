"""Overhead of the app agent: backend requests/s with the agent on and off, same machine, same run.

    python bench/instrumentation.py [--processes 6] [--rounds 6] [--seconds 1] [--clients 8]

Starts Redis and the sample backend ``--processes`` times in each of three modes (one data dir,
prefilled once), drives each in turn with the same closed-loop mix (90% reads of Zipf keys, 10%
writes) and prints requests/s, the ratio, and the overhead against the target (<= 10%):

* agent on: ``--agent``, its log records as ECS lines, spans, metrics, Sentry;
* agent off (the reference judged): ``--no-agent``, the same service writing the same log records
  at the same level as plain text lines to stderr, as it runs without the agent. A service
  writes its log lines either way; the agent's part is how (with the ids, as ECS JSON);
* agent off, no log lines (shown, not judged): ``--no-agent --log-level warning``, the service
  writing none of its INFO lines, so the agent is charged for the lines themselves too.

Two kinds of noise are larger than the effect measured on a shared 2-core machine. The speed
drifts over minutes, so the rounds are short (one second) and each round visits every process,
in an order mirrored from one round to the next so drift favours no mode. And one process runs
steadily faster or slower than another started the same way (its memory layout, its hash seed):
two identical agent-off backends were 9% apart over ten rounds. So each mode runs in several
processes, and the figure judged is the median over a mode's processes of each process's median
round: on / off.

The agent-on backend runs as ``oam up`` runs it: with a Sentry DSN (here a loopback port where
nothing listens; no error happens during the run, so nothing is sent), because sentry-sdk's
set-up is part of what an instrumented request costs. Its lines are made by its line encoder
process (see docs/agent.md); the CPU that process uses is printed beside the backend's own.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backing_services.ports import free_port  # noqa: E402
from backing_services.redis import RedisServer  # noqa: E402
from foundation.output import table  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402
from order_service.load import ZipfKeys  # noqa: E402

KEYS = 200
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ORDER = json.dumps({"customer": "bench", "items": [{"sku": "s", "qty": 1, "price": 3.0}]})


class Mode(NamedTuple):
    """How one kind of backend runs: its options, and how the report names it."""

    name: str
    options: tuple[str, ...]
    agent: bool


AGENT_ON = Mode("agent on", ("--agent",), True)
AGENT_OFF = Mode("agent off", ("--no-agent",), False)  # its log records as plain lines to stderr
NO_LOGS = Mode("agent off, no log lines", ("--no-agent", "--log-level", "warning"), False)
MODES = (AGENT_OFF, AGENT_ON, NO_LOGS)


def start_backend(work: Path, redis_url: str, mode: Mode, name: str = "") -> tuple[subprocess.Popen, int]:
    port = free_port()
    sentry = ["--sentry-dsn", f"http://bench@127.0.0.1:{free_port()}/1"] if mode.agent else []
    telemetry = work / f"telemetry-{'-'.join(mode.name.split())}-{name}"
    process = subprocess.Popen(
        [sys.executable, "-m", "oam", "sample", "backend", *mode.options, "--port", str(port), "--redis-url",
         redis_url, "--data-dir", str(work / "data"), "--telemetry-dir", str(telemetry), *sentry],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def healthy() -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        finally:
            connection.close()

    try:
        wait_until(healthy, timeout=30, what=f"backend ({mode.name})", retry_on=(OSError,))
    except TimeoutError as exc:
        process.kill()
        raise SystemExit(str(exc)) from None
    return process, port


def drive(port: int, seconds: float, clients: int) -> float:
    """Closed loop: ``clients`` threads send requests back to back; returns requests/s."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        keys = ZipfKeys(KEYS, 1.1, seed=index)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        count = 0
        while time.monotonic() < stop:
            key = keys.next()
            if count % 10 == 9:
                connection.request("PUT", f"/orders/{key}", ORDER, {"Content-Type": "application/json"})
            else:
                connection.request("GET", f"/orders/{key}")
            response = connection.getresponse()
            response.read()
            if response.status >= 500:
                raise SystemExit(f"backend answered {response.status}")
            count += 1
        done[index] = count

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - began)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (the agent's line encoder process)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


class Backend:
    """One backend process and what it did: requests/s of each round, CPU and requests in all."""

    def __init__(self, work: Path, redis_url: str, mode: Mode, index: int) -> None:
        self.mode = mode
        self.process, self.port = start_backend(work, redis_url, mode, f"{index}")
        self.rates: list[float] = []
        self.requests = 0.0
        self.cpu = {"backend": 0.0, "line encoder": 0.0}

    def run_round(self, seconds: float, clients: int) -> None:
        pids = {"backend": [self.process.pid], "line encoder": child_pids(self.process.pid)}
        before = {part: sum(process_cpu_seconds(pid) for pid in group) for part, group in pids.items()}
        began = time.monotonic()
        rate = drive(self.port, seconds, clients)
        self.requests += rate * (time.monotonic() - began)
        for part, group in pids.items():
            self.cpu[part] += sum(process_cpu_seconds(pid) for pid in group) - before[part]
        self.rates.append(rate)

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates)

    def cpu_per_request_us(self, part: str) -> float:
        return self.cpu[part] / self.requests * 1e6 if self.requests else 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def prefill(port: int) -> None:
    for index in range(1, KEYS + 1):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("PUT", f"/orders/order-{index}", ORDER, {"Content-Type": "application/json"})
        connection.getresponse().read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6, help="backend processes per mode")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per process (each visits every process)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one measured round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client connections")
    args = script_arguments(parser, quick={"processes": 2, "rounds": 3})
    if args.processes < 1 or args.rounds < 1 or args.seconds <= 0 or args.clients < 1:
        parser.error("--processes, --rounds and --clients must be at least 1 and --seconds above 0")

    backends: list[Backend] = []
    with tempfile.TemporaryDirectory(prefix="oam-bench-instr-") as tmp:
        work = Path(tmp)
        redis = RedisServer(work / "redis", free_port())
        redis.start()
        try:
            for index in range(args.processes):  # off, on, no logs, off, on, ...: no mode starts first throughout
                for mode in MODES:
                    backends.append(Backend(work, redis.url, mode, index))
            prefill(backends[0].port)  # one shared data dir: prefilled once
            for backend in backends:
                drive(backend.port, 1.0, args.clients)  # warm-up
            print(f"{len(backends)} backends, {args.rounds} rounds of {args.seconds:g} s each", file=sys.stderr)
            for round_number in range(args.rounds):
                order = backends if round_number % 2 == 0 else backends[::-1]  # mirrored rounds
                for backend in order:
                    backend.run_round(args.seconds, args.clients)
                print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for backend in backends:
                backend.stop()
            redis.stop()

    by_mode = {mode: [b for b in backends if b.mode is mode] for mode in MODES}
    rate = {mode: statistics.median(b.median_rate for b in by_mode[mode]) for mode in MODES}
    cpu = {(mode, part): statistics.median(b.cpu_per_request_us(part) for b in by_mode[mode])
           for mode in MODES for part in ("backend", "line encoder")}
    on = rate[AGENT_ON]
    lines = []
    for reference, label, judged in ((AGENT_OFF, "off (plain log lines)", True), (NO_LOGS, "off, no log lines", False)):
        ratio = on / rate[reference]
        verdict = f"overhead <= 10% ({(1 - ratio) * 100:.1f}%: {'met' if ratio >= 0.9 else 'NOT met'})" if judged \
            else f"overhead {(1 - ratio) * 100:.1f}% (not judged)"
        lines.append([f"backend requests/s vs agent {label}", f"{on:.1f}", f"{rate[reference]:.1f}", f"{ratio:.3f}",
                      verdict])
    for reference in (AGENT_OFF, NO_LOGS):
        lines.append([f"backend CPU per request (us) vs {reference.name}", f"{cpu[AGENT_ON, 'backend']:.0f}",
                      f"{cpu[reference, 'backend']:.0f}", f"{cpu[AGENT_ON, 'backend'] / cpu[reference, 'backend']:.3f}",
                      None])
    lines.append(["line encoder process CPU per request (us)", f"{cpu[AGENT_ON, 'line encoder']:.0f}", None, None, None])
    print(table(lines, headers=["figure (median of the processes of each mode)", "agent on", "reference", "ratio",
                                "target"], align=["left", "right", "right", "right", "left"]))
    for mode in MODES:
        rates = ", ".join(f"{b.median_rate:.0f}" for b in by_mode[mode])
        print(f"{mode.name}: median requests/s of each process: {rates}")
    write_results(args, "instrumentation", [
        Row("instrumentation", "backend requests/s, app agent on", on, "req/s", rate[AGENT_OFF],
            f"agent off, plain log lines; median of {args.processes} processes",
            target=Target("ratio", ">=", 0.9, "overhead <= 10%")),
        Row("instrumentation", "backend requests/s, app agent on vs no log lines", on, "req/s", rate[NO_LOGS],
            "agent off, no log lines"),
        Row("instrumentation", "backend CPU per request, app agent on", cpu[AGENT_ON, "backend"], "us",
            cpu[AGENT_OFF, "backend"], "agent off, plain log lines",
            extra={"line_encoder_us": cpu[AGENT_ON, "line encoder"]})])
    return 0


if __name__ == "__main__":
    sys.exit(main())
