"""``oam dashboard``: serve the web UI, and manage its users."""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from alerts.silences import split_urls
from cmdb import DEFAULT_ROOT, CmdbError
from cmdb.cli import with_suite_defaults
from foundation.cli_options import CmdbConnection, cmdb_options, log_format_option
from foundation.daemon_logging import AccessLog, configure_daemon_logging
from foundation.output import reported
from foundation.reload import SwappableApp, raise_interrupt, reload_on_hangup
from foundation.settings import SettingsError, validate
from foundation.suite import suite_elasticsearch

from .config import DashboardConfig

F = TypeVar("F", bound=Callable[..., Any])


def _settings(ctx: click.Context) -> Any:
    return ctx.obj.settings if ctx.obj is not None else None


def _config(ctx: click.Context, params: dict[str, Any]) -> DashboardConfig:
    settings = _settings(ctx)
    host = settings.host if settings else "127.0.0.1"
    cmdb: CmdbConnection = with_suite_defaults(params["cmdb"], settings)
    values: dict[str, Any] = {
        "elasticsearch": _elasticsearch(settings, params), "zookeeper": cmdb.zk or "127.0.0.1:2181",
        "cmdb_user": cmdb.user, "cmdb_password": cmdb.password, "cmdb_root": cmdb.root or DEFAULT_ROOT,
        "index_prefix": params.get("index_prefix") or "oam", "environment": params.get("environment") or "production"}
    secret_file: Path | None = params.get("secret_key_file")
    if secret_file is not None:
        try:
            values["secret_key"] = secret_file.read_text().strip()
        except OSError as exc:
            raise click.ClickException(f"cannot read the secret key file {secret_file}: {exc.strerror}") from exc
        if len(values["secret_key"]) < 16:
            raise click.ClickException(f"the secret key in {secret_file} is too short (at least 16 characters)")
    if params.get("metrics_token_file") is not None:
        values["metrics_token_file"] = params["metrics_token_file"]
    for name in ("known_hosts", "identity", "events_file"):
        if params.get(name) is not None:
            values[f"deploy_{name}"] = params[name]
    tokens = params.get("tokens_file")
    if tokens is None and settings is not None:
        from collector.auth import suite_tokens_file

        tokens = suite_tokens_file(settings.data_dir)
    values["tokens_file"] = tokens
    collectors = list(params.get("collectors") or ())
    if not collectors and settings is not None:
        collectors = [f"http://{host}:{port}" for port in settings.ports.collectors()]
    values["collectors"] = collectors
    values["alertmanagers"] = split_urls(params.get("alertmanagers") or ())
    if settings is not None:
        values["suite_state_file"] = settings.run_dir / "stack.json"
    if params.get("session_minutes"):
        values["session_minutes"] = params["session_minutes"]
    with reported(SettingsError):
        return validate(DashboardConfig, values, "the dashboard's options")


def _elasticsearch(settings: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The connection: the suite's (its dashboard user) unless --es names another; each option wins."""
    connection: dict[str, Any] = suite_elasticsearch(settings, "dashboard") if settings else {}
    if params.get("elasticsearch"):
        with reported(SettingsError):
            connection = validate(DashboardConfig, {"elasticsearch": params["elasticsearch"]},
                                  "--es").elasticsearch.model_dump(exclude_defaults=True)
    for option, key in (("es_user", "username"), ("es_password", "password"), ("es_ca_file", "ca_file")):
        if params.get(option):
            connection[key] = params[option]
    if params.get("es_password"):
        connection.pop("password_file", None)
    return connection


def elasticsearch_options(command: F) -> F:
    """``--es``, ``--es-user``, ``--es-password``, ``--es-ca-file`` and ``--index-prefix`` (each with its variable)."""
    for option in reversed((
        click.option("--es", "elasticsearch", envvar="OAM_ES_URL",
                     help="Elasticsearch URL; several nodes of a cluster comma-separated (a request fails over)."),
        click.option("--es-user", envvar="OAM_ES_USER", help="Elasticsearch user (basic auth)."),
        click.option("--es-password", envvar="OAM_ES_PASSWORD", help="Elasticsearch password (prefer the variable)."),
        click.option("--es-ca-file", envvar="OAM_ES_CA_FILE",
                     help="The CA that signed Elasticsearch's HTTP certificate (default: the system's CAs)."),
        click.option("--index-prefix", envvar="OAM_INDEX_PREFIX", help="Index prefix (default oam)."))):
        command = option(command)
    return command


@click.group("dashboard")
def dashboard() -> None:
    """The web dashboard: hosts, services, logs, traces by GTX, errors, CMDB and deployments."""


@dashboard.command("run")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (default: [ports] dashboard, 8080).")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@elasticsearch_options
@cmdb_options
@click.option("--environment", "-e", default="production", show_default=True, help="Deploy environment shown.")
@click.option("--secret-key-file", type=click.Path(path_type=Path), envvar="OAM_DASHBOARD_SECRET_FILE",
              help="File with the session signing key (default: a new key each start, which logs everyone out).")
@click.option("--session-minutes", type=click.IntRange(1, 24 * 60), help="Idle minutes before a session expires (30).")
@click.option("--known-hosts", type=click.Path(path_type=Path), envvar="OAM_KNOWN_HOSTS",
              help="SSH known_hosts for deploys started from the dashboard.")
@click.option("--identity", type=click.Path(path_type=Path), envvar="OAM_SSH_KEY", help="SSH key for deploys.")
@click.option("--collector", "collectors", multiple=True, metavar="URL",
              help="A collector whose /health the overview shows (repeat; default: this host's collector ports).")
@click.option("--alertmanager", "alertmanagers", multiple=True, metavar="URL", envvar="OAM_ALERTMANAGERS",
              help="An Alertmanager for the Alerts page's silences (repeat for each peer) [env OAM_ALERTMANAGERS].")
@click.option("--tokens-file", type=click.Path(path_type=Path), envvar="OAM_COLLECTOR_TOKENS",
              help="The collector's token file, for issuing ingest tokens (default: <data dir>/collector/tokens.json).")
@click.option("--events-file", type=click.Path(path_type=Path), envvar="OAM_DEPLOY_EVENTS",
              help="Where deploy change events are appended.")
@click.option("--metrics-token-file", type=click.Path(path_type=Path), envvar="OAM_DASHBOARD_METRICS_TOKEN_FILE",
              help="File with a bearer token /metrics asks for (default: /metrics is open; it holds no user data).")
@log_format_option
@click.pass_context
def run(ctx: click.Context, port: int | None, bind: str, log_format: str, **params: Any) -> None:
    """Serve the dashboard until SIGTERM or Ctrl-C.

    SIGHUP (`systemctl reload oam-dashboard`) re-reads the settings file and the files the options
    name (secret key, Elasticsearch password, metrics token) and serves from then on with them,
    keeping the port and the sessions; a bad setting is logged and the running ones stay.

    \b
    Example:
      OAM_CMDB_USER=dashboard OAM_CMDB_PASSWORD=... oam dashboard run --port 8080
    """
    import waitress

    from .app import close_app, create_app

    configure_daemon_logging("oam-dashboard", "info", log_format)
    settings = _settings(ctx)
    port = port or (settings.ports.dashboard if settings else 8080)
    config = _config(ctx, params)
    with reported(SettingsError):
        config.metrics_token()  # an unreadable or too short token file: one line, before anything starts
    _move_legacy_users(config)
    app = SwappableApp(create_app(config))
    reload_on_hangup(lambda: app.swap(create_app(_reloaded_config(ctx, params, app.current))),
                     logging.getLogger("oam.dashboard"), (click.ClickException, SettingsError, OSError),
                     close=close_app)
    signal.signal(signal.SIGTERM, raise_interrupt)  # service managers stop it with SIGTERM
    click.echo(f"dashboard on http://{bind}:{port}/ -> Elasticsearch {config.elasticsearch.describe()}", err=True)
    try:
        waitress.serve(AccessLog(app), host=bind, port=port, threads=8, ident="oam-dashboard")
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {bind}:{port}: {exc.strerror}") from exc
    finally:
        close_app(app.current)


def _reloaded_config(ctx: click.Context, params: dict[str, Any], running: Any) -> DashboardConfig:
    """The settings read anew for a reload; without a secret key file the running key stays (no one is logged out)."""
    if ctx.obj is not None:
        ctx.obj.reload()
    config = _config(ctx, params)
    config.metrics_token()
    if params.get("secret_key_file") is None:
        config = config.model_copy(update={"secret_key": running.config["SECRET_KEY"]})
    return config


def _move_legacy_users(config: Any) -> None:
    """Users of older versions (config keys with history) move to the CMDB's secrets before serving."""
    from cmdb import Cmdb

    from .users import UserStore

    with (reported(CmdbError),
          Cmdb(config.zookeeper, user=config.cmdb_user, password=config.cmdb_password, root=config.cmdb_root,
               actor="dashboard") as cmdb):
        moved = UserStore(cmdb).move_legacy()
    if moved:
        click.echo(f"moved {len(moved)} dashboard users to the CMDB's secrets (their old hashes deleted)", err=True)


@dashboard.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), required=True)
@click.option("--password", "user_password", envvar="OAM_DASHBOARD_PASSWORD",
              help="The new user's password (prompted if not given).")
@cmdb_options
@click.pass_context
def add_user(ctx: click.Context, name: str, role: str, user_password: str | None, **params: Any) -> None:
    """Add a dashboard user (or change its password and role); kept in the CMDB, hashed."""
    from cmdb import Cmdb

    from .users import UserError, UserStore

    if user_password is None:
        user_password = click.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    config = _config(ctx, params)
    actor = config.cmdb_user or os.environ.get("USER")
    with (reported(UserError, CmdbError),
          Cmdb(config.zookeeper, user=config.cmdb_user, password=config.cmdb_password, root=config.cmdb_root,
               actor=actor) as cmdb):
        UserStore(cmdb).save(name, user_password, role)
    click.echo(f"user {name}: {role}")
