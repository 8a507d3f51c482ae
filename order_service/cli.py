"""``oam sample gateway|backend|worker`` runs one process of the order service; ``oam load`` drives it."""
from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import click

from agents.app import AppAgent
from foundation.cli_options import CmdbConnection, cmdb_options, output_option
from foundation.output import echo_json
from foundation.reload import raise_interrupt
from telemetry.ecs import ServiceInfo

from .load import FAIL_PATH, ZipfKeys, run_load
from .settings import LiveSettings

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

_common = [
    click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on."),
    click.option("--redis-url", default="redis://127.0.0.1:6379/0", show_default=True),
    click.option("--data-dir", type=click.Path(path_type=Path), default=Path("order-data"), show_default=True,
                 help="Where the shard files live."),
    click.option("--telemetry-dir", type=click.Path(path_type=Path), default=Path("telemetry"), show_default=True,
                 help="Where the ECS log and span files go (the host agent ships them)."),
    click.option("--sentry-dsn", envvar="OAM_SENTRY_DSN", default=None, help="The collector's Sentry DSN."),
    click.option("--release", "version", default="1.0.0", show_default=True, help="The version this process reports."),
    click.option("--environment", default="development", show_default=True),
    cmdb_options,
    click.option("--agent/--no-agent", "agent_on", default=True, show_default=True,
                 help="Instrument with the app agent (off: no spans, ECS log lines or Sentry; log records go "
                      "to stderr as plain text, as an uninstrumented service writes them; for comparisons)."),
    click.option("--log-level", type=click.Choice(sorted(LOG_LEVELS), case_sensitive=False), default="info",
                 show_default=True, help="The least severe log records written."),
    click.option("--sample-ratio", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True,
                 envvar="OAM_SAMPLE_RATIO",
                 help="Share of new traces recorded; a caller's sampled/not-sampled flag is always followed "
                      "[env OAM_SAMPLE_RATIO]."),
]


def common_options(func):
    for option in reversed(_common):
        func = option(func)
    return func


def _agent(name: str, version: str, environment: str, telemetry_dir: Path, sentry_dsn: str | None,
           enabled: bool = True, log_level: str = "info", sample_ratio: float = 1.0,
           host_name: str | None = None) -> AppAgent:
    return AppAgent(ServiceInfo(name, version, environment, host_name or socket.gethostname()), telemetry_dir,
                    sentry_dsn=sentry_dsn, log_level=LOG_LEVELS[log_level.lower()], enabled=enabled,
                    sample_ratio=sample_ratio).start()


def _settings(cmdb: CmdbConnection, environment: str) -> LiveSettings:
    """Live settings: defaults, followed in the CMDB when --zk (or $OAM_CMDB_ZK) is given."""
    settings = LiveSettings()
    if cmdb.zk:
        from cmdb import Cmdb, CmdbError

        from .live_config import follow_cmdb

        try:
            follow_cmdb(settings, Cmdb(cmdb.zk, **cmdb.client_kwargs()), environment)
        except CmdbError as exc:
            raise click.ClickException(f"cannot follow the CMDB at {cmdb.zk}: {exc}") from None
    return settings


def _serve(app, host: str, port: int, agent: AppAgent) -> None:
    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=8, ident=None)
    signal.signal(signal.SIGTERM, raise_interrupt)
    click.echo(f"{agent.service.name} {agent.service.version} listening on http://{host}:{port}", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        agent.shutdown()


@click.group("sample")
def sample() -> None:
    """Run the sample order service: gateway -> backend (shards, Redis cache) -> queue -> worker."""


@sample.command()
@common_options
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--host-name", default=None, help="The host.name its telemetry carries [default: this machine's].")
@click.option("--fail-order-reads", "fail_reads", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Share of order reads that fail (500) on purpose while /health stays fine: a bad release.")
def backend(bind, port, redis_url, data_dir, telemetry_dir, sentry_dsn, version, environment, cmdb,
            agent_on, log_level, sample_ratio, host_name, fail_reads) -> None:
    """The backend: orders on SQLite shards behind a Redis cache."""
    import redis

    from .backend import create_backend

    agent = _agent("backend", version, environment, telemetry_dir, sentry_dsn, agent_on, log_level, sample_ratio,
                   host_name)
    app = create_backend(agent, _settings(cmdb, environment), redis.Redis.from_url(redis_url), data_dir,
                         fail_reads=fail_reads)
    _serve(app, bind, port, agent)


@sample.command()
@common_options
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--backend-url", default="http://127.0.0.1:8001", show_default=True)
def gateway(bind, port, redis_url, data_dir, telemetry_dir, sentry_dsn, version, environment, cmdb, agent_on,
            log_level, sample_ratio, backend_url) -> None:
    """The public API, relaying to the backend with the GTX attached."""
    from .gateway import create_gateway

    agent = _agent("gateway", version, environment, telemetry_dir, sentry_dsn, agent_on, log_level, sample_ratio)
    _serve(create_gateway(agent, backend_url), bind, port, agent)


@sample.command()
@common_options
def worker(bind, redis_url, data_dir, telemetry_dir, sentry_dsn, version, environment, cmdb, agent_on,
           log_level, sample_ratio) -> None:
    """Run queued jobs (recompute an order) until SIGTERM or Ctrl-C."""
    import redis

    from .shards import ShardedStore
    from .worker import Worker

    agent = _agent("worker", version, environment, telemetry_dir, sentry_dsn, agent_on, log_level, sample_ratio)
    settings = _settings(cmdb, environment)
    store = ShardedStore(data_dir / settings.get("shards.directory"), settings.get("shards.count"), agent.metrics)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo("worker running", err=True)
    try:
        Worker(agent, redis.Redis.from_url(redis_url), store).run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        agent.shutdown()


@sample.command()
@click.option("--url", "urls", multiple=True, required=True, help="A backend to read orders from (repeatable).")
@click.option("--rate", type=click.FloatRange(0.1, 1000), default=15.0, show_default=True,
              help="Reads per second, over all the URLs.")
def reads(urls, rate) -> None:
    """Read orders from each backend in turn until SIGTERM or Ctrl-C (one not answering is skipped)."""
    from .read_load import BackgroundReads

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"reading orders from {', '.join(urls)} at {rate:g}/s", err=True)
    try:
        with BackgroundReads(list(urls), rate=rate):
            while not stop.wait(1):
                pass
    except KeyboardInterrupt:
        pass


@click.command("load")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The gateway.")
@click.option("--rate", default=20.0, show_default=True, help="Requests per second.")
@click.option("--duration", default=30.0, show_default=True, help="Seconds to run.")
@click.option("--keys", default=200, show_default=True, help="Distinct order ids.")
@click.option("--zipf", "exponent", default=1.1, show_default=True, help="Zipf exponent: higher = hotter hot keys.")
@click.option("--write-ratio", default=0.1, show_default=True, help="Share of requests that write.")
@click.option("--prefill/--no-prefill", default=True, show_default=True, help="Write every key once first.")
@click.option("--seed", default=None, type=int, help="Random seed for repeatable key sequences.")
@click.option("--fail-ratio", default=0.0, show_default=True,
              help="Share of requests sent to /api/fail, which fails on purpose (errors to find in the dashboard).")
@output_option
def load(url, rate, duration, keys, exponent, write_ratio, prefill, seed, fail_ratio, output) -> None:
    """Send steady load with Zipf-distributed keys; print progress and a latency summary.

    Exit code 1 if any request failed, other than those sent to /api/fail on purpose. With
    -o json the summary is {"requests", "seconds", "statuses": {code: count}, "latency_ms":
    {"p50", "p90", "p99", "max"}}.
    """
    if rate <= 0 or duration <= 0 or keys < 1 or exponent <= 0 or not 0 <= write_ratio <= 1 \
            or not 0 <= fail_ratio <= 1 - write_ratio:
        raise click.UsageError("rate, duration, keys and --zipf must be positive; --write-ratio and --fail-ratio "
                               "within 0..1 and together at most 1")
    import requests

    if prefill:
        click.echo(f"prefilling {keys} orders ...", err=True)
        with requests.Session() as session:
            for index in range(1, keys + 1):
                body = {"customer": "load", "items": [{"sku": "sku-1", "qty": 1, "price": 10}]}
                try:
                    session.put(f"{url.rstrip('/')}/api/orders/order-{index}", json=body, timeout=10)
                except requests.RequestException as exc:
                    raise click.ClickException(f"cannot reach {url}: {exc}") from exc

    def progress(elapsed: float, result) -> None:
        summary = result.summary()
        click.echo(f"  {elapsed:5.1f}s  {summary['requests']:6d} requests  p50 {summary['p50']:.1f} ms  "
                   f"p99 {summary['p99']:.1f} ms", err=True)

    began = time.monotonic()
    result = run_load(url, rate, duration, ZipfKeys(keys, exponent, seed), write_ratio, progress=progress,
                      fail_ratio=fail_ratio)
    took = time.monotonic() - began
    summary = result.summary()
    if output == "json":
        echo_json({"requests": summary["requests"], "seconds": round(took, 3),
                   "statuses": dict(sorted(result.statuses.items())),
                   "latency_ms": {name: round(summary[name], 3) for name in ("p50", "p90", "p99", "max")}})
    else:
        click.echo(f"{summary['requests']} requests in {took:.1f}s ({summary['requests'] / took:.1f}/s)")
        click.echo("status codes: " + ", ".join(f"{code}: {count}" for code, count in sorted(result.statuses.items())))
        click.echo(f"latency ms: p50 {summary['p50']:.1f}  p90 {summary['p90']:.1f}  p99 {summary['p99']:.1f}  "
                   f"max {summary['max']:.1f}")
    if any(not code.isdigit() or code.startswith("5") for code in result.statuses if not code.endswith(FAIL_PATH)):
        sys.exit(1)
