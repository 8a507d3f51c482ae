"""``oam collector run | token issue|revoke|list | retention`` and ``oam trace <gtx>``.

``token list``, ``retention`` and ``trace`` take ``-o json`` (the same data as plain JSON).
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click

from foundation.cli_options import CmdbConnection, cmdb_options, log_format_option, output_option
from foundation.daemon_logging import AccessLog, configure_daemon_logging
from foundation.output import echo_json, reported, table
from foundation.reload import ReloadRequested, describe_failure, raise_interrupt
from foundation.settings import SettingsError
from foundation.suite import suite_elasticsearch

from .auth import DEFAULT_SCOPE, SCOPES, TokenError, TokenStore, suite_state_dir, suite_tokens_file
from .config import CollectorConfig, load_config
from .workers import run_workers, shared_port_socket, worker_count

TOKEN_ENV = "OAM_COLLECTOR_TOKEN"
URL_ENV = "OAM_COLLECTOR_URL"
log = logging.getLogger("oam.collector")


def _suite_defaults() -> dict[str, object]:
    """Where ``oam`` keeps state and which port it gives the collector (``oam --data-dir``, oam.toml)."""
    context = click.get_current_context(silent=True)
    settings = getattr(context.find_root().obj, "settings", None) if context else None
    if settings is None:
        return {}
    data_dir = Path(settings.data_dir)
    defaults: dict[str, object] = {
        "host": settings.host, "port": settings.ports.collector, "tokens_file": suite_tokens_file(data_dir),
        "spool_dir": suite_state_dir(data_dir) / "spool", "elasticsearch": suite_elasticsearch(settings, "collector"),
        "index_replicas": settings.elasticsearch.replicas}
    if settings.elasticsearch.security:  # the suite's Elasticsearch: expired indices go with a user of their own
        defaults["retention_elasticsearch"] = suite_elasticsearch(settings, "retention")
    return defaults


CMDB_SERVICE = "oam-collector"


def _cmdb_settings(connection: CmdbConnection | None, environment: str) -> dict | None:
    """The settings document at ``<environment>/oam-collector/config`` in the CMDB (None: not asked)."""
    if connection is None or not connection.zk:
        return None
    from cmdb import Cmdb, CmdbError, KeyNotFound

    key = f"{environment}/{CMDB_SERVICE}/config"
    try:
        with Cmdb(connection.zk, **connection.client_kwargs()) as cmdb:
            return cmdb.store.get(key).value
    except KeyNotFound:
        logging.getLogger("oam.collector").info("no collector settings at %s in the CMDB; using the file", key)
        return {}
    except CmdbError as exc:
        raise click.ClickException(f"cannot read the collector settings from the CMDB: {exc}") from None


def _config(path: Path | None, cmdb: CmdbConnection | None = None, environment: str = "production",
            **overrides: object):
    defaults = _suite_defaults()
    with reported(SettingsError):
        config = load_config(path, defaults, _cmdb_settings(cmdb, environment),
                             f"{environment}/{CMDB_SERVICE}/config", **overrides)
    suite_retention = defaults.get("retention_elasticsearch")
    retention = config.retention_elasticsearch
    if retention and retention.model_dump(exclude_defaults=True) == suite_retention and \
            config.elasticsearch.hosts != suite_retention["hosts"]:
        config.retention_elasticsearch = None  # the suite's retention user, but another Elasticsearch: not ours
    return config


config_option = click.option("--config", "config_path", type=click.Path(path_type=Path),
                             envvar="OAM_COLLECTOR_CONFIG", help="Collector TOML file (see docs/collector.md).")


@click.group("collector")
def collector_group() -> None:
    """Receive agent batches, Sentry events and OTLP data; ship them to Elasticsearch."""


@collector_group.command("run")
@config_option
@click.option("--bind", help="Address to listen on (default from the config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (default 4318).")
@click.option("--spool-dir", type=click.Path(path_type=Path),
              help="Where documents wait while Elasticsearch is away; one per collector (default from the config).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@cmdb_options
@click.option("-e", "--environment", default="production", show_default=True,
              help="The environment whose CMDB settings to read.")
@click.option("--workers", help='Processes sharing the port (default from the config: "auto", one per core).')
@click.option("--worker-index", type=click.IntRange(min=0), hidden=True)  # set by the parent for each worker
@log_format_option
def run(config_path: Path | None, bind: str | None, port: int | None, spool_dir: Path | None, log_level: str,
        cmdb: CmdbConnection, environment: str, workers: str | None, worker_index: int | None,
        log_format: str) -> None:
    """Run a collector in the foreground until SIGTERM or Ctrl-C.

    With --zk it also reads settings from the CMDB key <environment>/oam-collector/config
    (the file's settings win). With more than one worker, each worker process binds the port
    (SO_REUSEPORT) and keeps its own spool (worker-N inside the spool directory).

    SIGHUP (`systemctl reload oam-collector`) reads the settings anew; if they are good, the
    workers are replaced one at a time (the others keep the port open), a single process starts
    again in place with the same pid. Bad settings are logged and the running ones stay.

    \b
    Example:
      oam collector run --config /etc/oam/collector.toml
    """
    import waitress

    from .app import create_app
    from .service import Collector, StartupError

    configure_daemon_logging("oam-collector", log_level, log_format)
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    def read_config() -> CollectorConfig:
        return _config(config_path, cmdb, environment, host=bind, port=port, spool_dir=spool_dir,
                       workers=int(workers) if workers and workers.isdigit() else workers)

    config = read_config()
    count = worker_count(config.workers)

    def reread() -> str | None:
        """None if the settings read anew are good, else the problem; warns of those a reload cannot change."""
        try:
            fresh = read_config()
        except (SettingsError, click.ClickException, OSError) as exc:  # a bad file or CMDB value, the CMDB away
            return describe_failure(exc)
        for name in ("host", "port", "workers", "spool_dir", "tokens_file"):
            if getattr(fresh, name) != getattr(config, name):
                log.warning("SIGHUP: %s changed; it applies only after a restart", name)
        return None

    if worker_index is None and count > 1:
        click.echo(f"collector: {count} worker processes on http://{config.host}:{config.port}", err=True)
        sys.exit(run_workers(count, sys.argv[1:], reread=reread, port=config.port))
    with reported(StartupError, SettingsError):
        collector = Collector(config, worker=worker_index or 0)
        collector.start()
    signal.signal(signal.SIGTERM, raise_interrupt)  # service managers stop it with SIGTERM
    restart = threading.Event()
    if worker_index is None:
        signal.signal(signal.SIGHUP, _restart_in_place(reread, restart))
    else:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent replaces its workers on SIGHUP
    where = {"host": config.host, "port": config.port} if worker_index is None else {
        "sockets": [shared_port_socket(config.host, config.port)]}
    click.echo(f"collector{'' if worker_index is None else f' worker {worker_index}'} listening on "
               f"http://{config.host}:{config.port} -> {config.elasticsearch.describe()}; "
               f"spool {collector.spool.directory}", err=True)
    try:
        waitress.serve(AccessLog(create_app(collector)), **where, threads=config.threads,
                       # far above the app's own limit, so the app answers 413 with its JSON message
                       max_request_body_size=2 * config.max_body_bytes + 65536, ident="oam-collector",
                       connection_limit=1000, channel_timeout=60)
    except KeyboardInterrupt:  # waitress ends its loop by itself on one; this catches one raised elsewhere
        pass
    finally:
        collector.close()
    if restart.is_set():
        log.info("SIGHUP: starting again in place with the new settings")
        os.execv(sys.executable, [sys.executable, "-m", "oam", *sys.argv[1:]])


def _restart_in_place(reread: Callable[[], str | None], restart: threading.Event) -> Callable[..., None]:
    """The SIGHUP handler of a single collector process: good settings -> set ``restart`` and leave the
    server loop (the caller then execs itself anew)."""
    def handle(*_: object) -> None:
        problem = reread()
        if problem:
            log.error("SIGHUP: %s; the running settings stay", problem)
            return
        restart.set()
        raise ReloadRequested

    return handle


@collector_group.group("token")
def token_group() -> None:
    """Issue, list and revoke the collector's tokens: scope ingest (agents, OTLP, Sentry DSN keys) or read (traces)."""


def _store(config_path: Path | None) -> TokenStore:
    return TokenStore(_config(config_path).tokens_file)


@token_group.command("issue")
@config_option
@click.argument("name")
@click.option("--scope", type=click.Choice(SCOPES), default=DEFAULT_SCOPE, show_default=True,
              help="ingest: send agent batches, OTLP and Sentry events (a DSN key); read: query traces.")
@output_option
def token_issue(config_path: Path | None, name: str, scope: str, output: str) -> None:
    """Issue a token for NAME (an agent, a service, a person) and print it once.

    With -o json: {"name": NAME, "scope": SCOPE, "token": the token}.

    \b
    Examples:
      oam collector token issue web-01
      oam collector token issue oncall --scope read     # for oam trace
    """
    with reported(TokenError):
        token = _store(config_path).issue(name, scope)
    if output == "json":
        echo_json({"name": name, "scope": scope, "token": token})
        return
    click.echo(token)


@token_group.command("revoke")
@config_option
@click.argument("name")
def token_revoke(config_path: Path | None, name: str) -> None:
    """Revoke NAME's token; running collectors refuse it from the next request on."""
    with reported(TokenError):
        _store(config_path).revoke(name)
    click.echo(f"revoked {name}")


@token_group.command("list")
@config_option
@output_option
def token_list(config_path: Path | None, output: str) -> None:
    """List token names, their scopes, when they were issued and their first characters.

    With -o json: a list of {"name", "created", "prefix", "scope"} (never the tokens themselves).
    """
    with reported(TokenError):
        records = _store(config_path).list()
    if output == "json":
        echo_json(records)
        return
    if not records:
        click.echo("no tokens issued.")
        return
    click.echo(table([[r.name, r.scope, r.created, f"{r.prefix}..."] for r in records],
                     headers=["NAME", "SCOPE", "ISSUED", "TOKEN"]))


@collector_group.command("retention")
@config_option
@click.option("--dry-run", is_flag=True, help="Only list the indices that would be deleted.")
@output_option
def retention(config_path: Path | None, dry_run: bool, output: str) -> None:
    """Delete daily indices older than each kind's retention_days (collectors also do this hourly).

    With -o json: {"dry_run": true|false, "indices": [names deleted, or that would be]}.
    """
    from datetime import datetime, timezone

    from .indices import apply_retention, expired_indices
    from .service import connect, connect_retention

    config = _config(config_path)
    with reported(SettingsError):
        client = connect_retention(config) or connect(config)
    who = (config.retention_elasticsearch or config.elasticsearch).describe()
    try:
        if dry_run:
            names = list(client.indices.get(index=f"{config.index_prefix}-*", allow_no_indices=True).body)
            doomed = expired_indices(names, config.retention_days, datetime.now(timezone.utc).date(),
                                     config.index_prefix)
        else:
            doomed = apply_retention(client, config.retention_days, config.index_prefix)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        raise click.ClickException(f"retention failed against {who}: {exc}") from None
    finally:
        client.close()
    if output == "json":
        echo_json({"dry_run": dry_run, "indices": list(doomed)})
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb}: {', '.join(doomed)}" if doomed else "no expired indices.")


@click.command("trace")
@click.argument("gtx")
@click.option("--url", envvar=URL_ENV, help="Collector URL (default http://<host>:<ports.collector>).")
@click.option("--token", envvar=TOKEN_ENV, help=f"Collector token of scope read (or ${TOKEN_ENV}).")
@output_option
@click.pass_context
def trace_command(ctx: click.Context, gtx: str, url: str | None, token: str | None, output: str) -> None:
    """Print everything that happened under one GTX (trace id) as a tree.

    With -o json: the collector's trace document as it answers /api/traces/GTX (the tree of
    transactions, spans and logs the table draws).

    \b
    Example:
      oam trace 4bf92f3577b34da6a3ce929d0e0e4736
    """
    from .traces import render_tree

    if not url:
        settings = getattr(ctx.obj, "settings", None)
        host = settings.host if settings else "127.0.0.1"
        port = settings.ports.collector if settings else 4318
        url = f"http://{host}:{port}"
    if not token:
        raise click.ClickException(f"no collector token: pass --token or set ${TOKEN_ENV} "
                                   "(a token of scope read: oam collector token issue NAME --scope read)")
    gtx = gtx.strip().lower()  # as pasted from a log line or a header
    if not re.fullmatch(r"[0-9a-f]{32}", gtx):
        raise click.BadParameter(f"{gtx!r} is not a GTX (32 lowercase hex digits, as in the X-Trace-Id header)",
                                 param_hint="GTX")
    req = urllib.request.Request(f"{url.rstrip('/')}/api/traces/{gtx}",
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            trace = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = None
        message = (body.get("error") if isinstance(body, dict) else None) or exc.reason
        raise click.ClickException(f"{message} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"cannot reach the collector at {url}: {getattr(exc, 'reason', exc)}") from None
    except ValueError:
        raise click.ClickException(f"{url} answered with something that is not JSON; is it a collector?") from None
    if not isinstance(trace, dict):
        raise click.ClickException(f"{url} answered with JSON that is not a trace; is it a collector?")
    if output == "json":
        echo_json(trace)
        return
    for line in render_tree(trace):
        click.echo(line)


__all__ = ["collector_group", "trace_command"]
