"""``oam collector run | token issue|revoke|list | retention`` and ``oam trace <gtx>``."""
from __future__ import annotations

import json
import logging
import signal
import urllib.error
import urllib.request
from pathlib import Path

import click

from foundation.settings import SettingsError

from .auth import TokenError, TokenStore
from .config import load_config

TOKEN_ENV = "OAM_COLLECTOR_TOKEN"
URL_ENV = "OAM_COLLECTOR_URL"


def _suite_defaults() -> dict[str, object]:
    """Where ``oam`` keeps state and which port it gives the collector (``oam --data-dir``, oam.toml)."""
    context = click.get_current_context(silent=True)
    settings = getattr(context.find_root().obj, "settings", None) if context else None
    if settings is None:
        return {}
    state = Path(settings.data_dir) / "collector"
    elasticsearch: dict[str, object] = {"hosts": [f"http://{settings.host}:{settings.elasticsearch.port}"]}
    if settings.elasticsearch.security:  # the suite's own Elasticsearch (`oam up`) and its admin user
        from backing_services.elasticsearch import ADMIN_USER

        elasticsearch.update(username=ADMIN_USER, password=settings.elasticsearch.password)
    return {"host": settings.host, "port": settings.ports.collector, "tokens_file": state / "tokens.json",
            "spool_dir": state / "spool", "elasticsearch": elasticsearch}


CMDB_SERVICE = "oam-collector"


def _cmdb_settings(zk: str | None, environment: str) -> dict | None:
    """The settings document at ``<environment>/oam-collector/config`` in the CMDB (None: not asked)."""
    if not zk:
        return None
    import os

    from cmdb import Cmdb, CmdbError, KeyNotFound

    options = {"user": os.environ.get("OAM_CMDB_USER"), "password": os.environ.get("OAM_CMDB_PASSWORD")}
    if os.environ.get("OAM_CMDB_ROOT"):
        options["root"] = os.environ["OAM_CMDB_ROOT"]
    key = f"{environment}/{CMDB_SERVICE}/config"
    try:
        with Cmdb(zk, **options) as cmdb:
            return cmdb.store.get(key).value
    except KeyNotFound:
        logging.getLogger("oam.collector").info("no collector settings at %s in the CMDB; using the file", key)
        return {}
    except CmdbError as exc:
        raise click.ClickException(f"cannot read the collector settings from the CMDB: {exc}") from None


def _config(path: Path | None, zk: str | None = None, environment: str = "production", **overrides: object):
    try:
        return load_config(path, _suite_defaults(), _cmdb_settings(zk, environment),
                           f"{environment}/{CMDB_SERVICE}/config", **overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


config_option = click.option("--config", "config_path", type=click.Path(path_type=Path),
                             envvar="OAM_COLLECTOR_CONFIG", help="Collector TOML file (see docs/collector.md).")


@click.group("collector")
def collector_group() -> None:
    """Receive agent batches, Sentry events and OTLP data; ship them to Elasticsearch."""


@collector_group.command("run")
@config_option
@click.option("--host", help="Address to listen on (default from the config: 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 4318).")
@click.option("--spool-dir", type=click.Path(path_type=Path),
              help="Where documents wait while Elasticsearch is away; one per collector (default from the config).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--zk", envvar="OAM_CMDB_ZK", metavar="HOST:PORT[,...]",
              help="Also read settings from the CMDB key <environment>/oam-collector/config (under the file's; "
                   "credentials from $OAM_CMDB_USER / $OAM_CMDB_PASSWORD) [env OAM_CMDB_ZK].")
@click.option("-e", "--environment", default="production", show_default=True,
              help="The environment whose CMDB settings to read.")
def run(config_path: Path | None, host: str | None, port: int | None, spool_dir: Path | None, log_level: str,
        zk: str | None, environment: str) -> None:
    """Run a collector in the foreground until SIGTERM or Ctrl-C.

    \b
    Example:
      oam collector run --config /etc/oam/collector.toml
    """
    import waitress

    from .app import create_app
    from .service import Collector, StartupError

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    config = _config(config_path, zk, environment, host=host, port=port, spool_dir=spool_dir)
    try:
        collector = Collector(config)
        collector.start()
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    signal.signal(signal.SIGTERM, _interrupt)  # service managers stop it with SIGTERM
    click.echo(f"collector listening on http://{config.host}:{config.port} "
               f"-> {config.elasticsearch.describe()}; spool {config.spool_dir}", err=True)
    try:
        waitress.serve(create_app(collector), host=config.host, port=config.port, threads=config.threads,
                       # far above the app's own limit, so the app answers 413 with its JSON message
                       max_request_body_size=2 * config.max_body_bytes + 65536, ident="oam-collector",
                       connection_limit=1000, channel_timeout=60)
    except KeyboardInterrupt:
        pass
    finally:
        collector.close()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@collector_group.group("token")
def token_group() -> None:
    """Issue, list and revoke the bearer tokens agents (and Sentry DSNs) use."""


def _store(config_path: Path | None) -> TokenStore:
    return TokenStore(_config(config_path).tokens_file)


@token_group.command("issue")
@config_option
@click.argument("name")
def token_issue(config_path: Path | None, name: str) -> None:
    """Issue a token for NAME (an agent or a service) and print it once.

    \b
    Example:
      oam collector token issue web-01
    """
    try:
        click.echo(_store(config_path).issue(name))
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None


@token_group.command("revoke")
@config_option
@click.argument("name")
def token_revoke(config_path: Path | None, name: str) -> None:
    """Revoke NAME's token; running collectors refuse it from the next request on."""
    try:
        _store(config_path).revoke(name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {name}")


@token_group.command("list")
@config_option
def token_list(config_path: Path | None) -> None:
    """List token names, when they were issued and their first characters."""
    try:
        records = _store(config_path).list()
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    if not records:
        click.echo("no tokens issued.")
    for record in records:
        click.echo(f"{record.name:<32} {record.created:<26} {record.prefix}...")


@collector_group.command("retention")
@config_option
@click.option("--dry-run", is_flag=True, help="Only list the indices that would be deleted.")
def retention(config_path: Path | None, dry_run: bool) -> None:
    """Delete daily indices older than each kind's retention_days (collectors also do this hourly)."""
    from datetime import datetime, timezone

    from .indices import apply_retention, expired_indices
    from .service import connect

    config = _config(config_path)
    client = connect(config)
    try:
        if dry_run:
            names = list(client.indices.get(index=f"{config.index_prefix}-*", allow_no_indices=True).body)
            doomed = expired_indices(names, config.retention_days, datetime.now(timezone.utc).date(),
                                     config.index_prefix)
        else:
            doomed = apply_retention(client, config.retention_days, config.index_prefix)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        raise click.ClickException(f"retention failed against {config.elasticsearch.describe()}: {exc}") from None
    finally:
        client.close()
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb}: {', '.join(doomed)}" if doomed else "no expired indices.")


@click.command("trace")
@click.argument("gtx")
@click.option("--url", envvar=URL_ENV, help="Collector URL (default http://<host>:<ports.collector>).")
@click.option("--token", envvar=TOKEN_ENV, help=f"Collector token (or ${TOKEN_ENV}).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON tree.")
@click.pass_context
def trace_command(ctx: click.Context, gtx: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Print everything that happened under one GTX (trace id) as a tree.

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
        raise click.ClickException(f"no collector token: pass --token or set ${TOKEN_ENV}")
    req = urllib.request.Request(f"{url.rstrip('/')}/api/traces/{gtx}",
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            trace = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or exc.reason
        except ValueError:
            message = exc.reason
        raise click.ClickException(f"{message} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"cannot reach the collector at {url}: {getattr(exc, 'reason', exc)}") from None
    if as_json:
        click.echo(json.dumps(trace, indent=2))
        return
    for line in render_tree(trace):
        click.echo(line)


__all__ = ["collector_group", "trace_command"]
