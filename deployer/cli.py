"""``oam deploy``, ``oam rollback``, ``oam releases`` and ``oam deploy-config``.

Each takes the CMDB options (``--zk``, ``--cmdb-user``, ``--cmdb-password``, ``--cmdb-root``) and
``-o json``, which prints the same data as the table: a deploy or rollback prints its deployment
record, ``releases`` the kept releases of each host.
"""
from __future__ import annotations

import getpass
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cmdb import DEFAULT_ROOT
from cmdb.cli import with_suite_defaults
from foundation.cli_options import CmdbConnection, cmdb_options, output_option
from foundation.elasticsearch import ElasticsearchConnection, connect
from foundation.output import echo_json, reported
from foundation.settings import SettingsError, validate
from foundation.suite import suite_elasticsearch
from remote import SshOptions

from . import service
from .artifact import ArtifactError
from .config import ConfigInvalid, parse_config
from .plan import PlanError
from .registry import Registry, RegistryError
from .report import config_data, config_diffs, releases_data, releases_table, summary
from .rollout import ProgressEvent
from .templates import TemplateProblem

_ERRORS = (RegistryError, ConfigInvalid, ArtifactError, PlanError, TemplateProblem)
EVENTS_FILE = "deploy-changes.jsonl"

def _connection_options(func: Callable) -> Callable:
    options = [
        cmdb_options,
        output_option,
        click.option("--environment", "-e", envvar="OAM_ENVIRONMENT", default="production", show_default=True,
                     help="The environment whose deploy configuration and hosts to use [env OAM_ENVIRONMENT]."),
        click.option("--known-hosts", type=click.Path(path_type=Path), envvar="OAM_KNOWN_HOSTS",
                     default=Path("~/.ssh/known_hosts"), show_default=True, help="Host keys to verify against."),
        click.option("--identity", "-i", type=click.Path(path_type=Path, exists=True, dir_okay=False),
                     envvar="OAM_SSH_KEY", help="SSH private key (default: the agent and ~/.ssh keys)."),
        click.option("--trust-new-host-keys", is_flag=True,
                     help="Accept hosts whose key is not in known_hosts yet, and add it there. A changed key is "
                          "always refused."),
        click.option("--connect-timeout", default=10.0, show_default=True, help="Seconds to wait for SSH."),
        click.option("--hosts", "host_names", help="Comma-separated host names (default: every host)."),
        click.option("--role", help="Only the hosts with this role."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _rollout_options(func: Callable) -> Callable:
    options = [
        click.option("--batch", "batch_size", type=int, help="Hosts per batch (default: a quarter of them)."),
        click.option("--max-parallel", type=int, help="Hosts worked on at once (default: the batch size)."),
        click.option("--canary", default=0, show_default=True, help="Hosts to deploy alone first."),
        click.option("--who", envvar="OAM_DEPLOY_WHO", default=getpass.getuser,
                     help="Who deploys, for the lock and the records [default: your login name]."),
        click.option("--events-file", type=click.Path(path_type=Path), envvar="OAM_DEPLOY_EVENTS",
                     help=f"JSON-lines file for change events [default: <data dir>/spool/{EVENTS_FILE}]."),
        click.option("--es", "elasticsearch", envvar="OAM_ES_URL",
                     help="Elasticsearch the analysis after each batch reads (several nodes comma-separated) "
                          "[default: the suite's, env OAM_ES_URL]."),
        click.option("--es-user", envvar="OAM_ES_USER", help="Elasticsearch user (basic auth) [env OAM_ES_USER]."),
        click.option("--es-password", envvar="OAM_ES_PASSWORD", help="Elasticsearch password [env OAM_ES_PASSWORD]."),
        click.option("--es-ca-file", envvar="OAM_ES_CA_FILE",
                     help="CA certificate of an https Elasticsearch [env OAM_ES_CA_FILE]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _progress(event: ProgressEvent) -> None:
    if event.status != "start":
        click.echo(f"{time.strftime('%H:%M:%S')} {event.line()}", err=True)


def _options(ctx: click.Context, params: dict[str, Any]) -> service.RunOptions:
    settings = ctx.obj.settings if ctx.obj is not None else None
    events = params.get("events_file")
    if events is None and settings is not None and "who" in params:
        events = settings.data_dir / "spool" / EVENTS_FILE
    names = [n.strip() for n in (params.get("host_names") or "").split(",") if n.strip()]
    ssh = SshOptions(known_hosts=params["known_hosts"].expanduser(), identity=params.get("identity"),
                     trust_new_host_keys=params["trust_new_host_keys"], connect_timeout=params["connect_timeout"])
    return service.RunOptions(user=params.get("who") or getpass.getuser(), ssh=ssh, hosts=names,
                              role=params.get("role"), batch_size=params.get("batch_size"),
                              max_parallel=params.get("max_parallel"), canary=params.get("canary") or 0,
                              events_file=events, progress=_progress,
                              connect_elasticsearch=(lambda: _elasticsearch(settings, params)) if "who" in params
                              else None)


def _elasticsearch(settings: Any, params: dict[str, Any]) -> Any:
    """The client the analysis reads with: the suite's (its read-only user) unless --es names another;
    each option wins. Made only for a deploy with analysis; unusable or unreachable makes its verdicts
    inconclusive, saying why."""
    connection: dict[str, Any] = suite_elasticsearch(settings, "dashboard") if settings is not None else {}
    if params.get("elasticsearch"):
        connection = {"hosts": [u.strip() for u in params["elasticsearch"].split(",") if u.strip()]}
    for option, key in (("es_user", "username"), ("es_password", "password"), ("es_ca_file", "ca_file")):
        if params.get(option):
            connection[key] = str(params[option])
    if params.get("es_password"):
        connection.pop("password_file", None)
    try:
        return connect(validate(ElasticsearchConnection, connection, "--es"), request_timeout=10)
    except ValueError as exc:  # the client refuses the options (TLS on http); SettingsError is one too
        raise SettingsError(str(exc)) from None


def _registry(ctx: click.Context, params: dict[str, Any]) -> Registry:
    settings = ctx.obj.settings if ctx.obj is not None else None
    cmdb: CmdbConnection = with_suite_defaults(params["cmdb"], settings)
    with reported(RegistryError):
        return Registry.connect(cmdb.zk or "127.0.0.1:2181", user=cmdb.user, password=cmdb.password,
                                root=cmdb.root or DEFAULT_ROOT, environment=params.get("environment") or "production")


def _say_outcome(outcome: Any, record: dict[str, Any], output: str) -> None:
    """The summary table and where it was recorded; -o json: the deployment record itself."""
    if output == "json":
        echo_json(record)
        return
    click.echo(summary(outcome))
    if record.get("id"):
        click.echo(f"recorded in the CMDB as {record['id']}")
    else:
        click.echo(f"NOT recorded in the CMDB: {record.get('record_error')}", err=True)


@click.command("deploy")
@click.argument("service_name", metavar="SERVICE")
@click.argument("version", required=False)
@_connection_options
@_rollout_options
@click.option("--source", type=click.Path(path_type=Path, file_okay=False), help="Directory to pack as the release.")
@click.option("--artifact", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A ready .tar.gz release instead of --source.")
@click.option("--config-only", is_flag=True,
              help="No new release: render the current release's config/*.j2 with the CMDB's values and roll the "
                   "files out (same batches, health checks and rollback); give no VERSION.")
@click.option("--dry-run", is_flag=True, help="Show the plan, each host's current release and the diff of its "
                                              "config files against the rendered ones; change nothing.")
@click.pass_context
def deploy_command(ctx: click.Context, service_name: str, version: str | None, source: Path | None,
                   artifact: Path | None, config_only: bool, dry_run: bool, **params: Any) -> None:
    """Roll VERSION of SERVICE out to its hosts, batch by batch; roll back automatically on failure.

    A release's config/*.j2 templates are rendered for each host with the CMDB keys
    <environment>/<service>/config/<name> (a host's <environment>/<service>/hosts/<host>/config/<name>
    wins); a key a template needs and the CMDB lacks stops the deploy before any host changes.

    \b
    Exit codes: 0 deployed everywhere; 1 not started (bad input, lock held, a host not ready);
    2 failed and every switched host is back on its previous release (with --config-only: its
    previous config files); 3 failed and some host could not be put back.

    \b
    -o json prints the deployment record: {"id", "service", "action", "version", "user",
    "environment", "result", "rolled_back", "batches", "started", "finished", "seconds",
    "hosts": [{"host", "address", "batch", "previous", "target", "status", "step", "error",
    "config_keys": {key: version}, "config_files", ...}]}; with --dry-run: {"artifact": {...},
    "batches": [[host, ...]], "hosts": [...] as `oam releases -o json` prints them, "config":
    [{"host", "files", "keys": {key: version}, "diff"}]} (no "artifact" with --config-only).

    \b
    Examples:
      oam deploy shop 1.4.0 --source build/ --batch 2 --canary 1
      oam deploy shop 1.4.0 --artifact shop-1.4.0.tar.gz --role web --dry-run
      oam deploy shop --config-only --dry-run
    """
    if config_only and (version or source or artifact):
        raise click.UsageError("--config-only deploys no release: give no VERSION, --source or --artifact")
    if not config_only and not version:
        raise click.UsageError("missing VERSION (or --config-only)")
    options = _options(ctx, params)
    output = params["output"]
    with _registry(ctx, params) as registry, reported(*_ERRORS):
        if dry_run:
            _dry_run(registry, service_name, version if not config_only else None, options, source, artifact, output)
        if config_only:
            outcome, record = service.deploy_config(registry, service_name, options)
        else:
            outcome, record = service.deploy(registry, service_name, version or "", options, source=source,
                                             artifact=artifact)
    _say_outcome(outcome, record, output)
    sys.exit(outcome.exit_code)


def _dry_run(registry: Registry, service_name: str, version: str | None, options: service.RunOptions,
             source: Path | None, artifact: Path | None, output: str) -> None:
    """Print the plan (and exit): the artifact, the batches, the hosts' releases, the config diffs."""
    data: dict[str, Any] = {}
    if version is None:
        batches, hosts = service.dry_run_config(registry, service_name, options)
    else:
        built, batches, hosts = service.dry_run(registry, service_name, version, options, source=source,
                                                artifact=artifact)
        data["artifact"] = {"file": built.path.name, "version": built.version, "size": built.size,
                            "sha256": built.sha256}
    if output == "json":
        echo_json({**data, "batches": batches, "hosts": releases_data(hosts), "config": config_data(hosts)})
    else:
        if "artifact" in data:
            shipped = data["artifact"]
            click.echo(f"artifact {shipped['file']}: {shipped['size']} bytes, sha256 {shipped['sha256']}")
        for number, batch in enumerate(batches, 1):
            click.echo(f"batch {number}: {', '.join(batch)}")
        click.echo(releases_table(hosts))
        diffs = config_diffs(hosts)
        if diffs:
            click.echo(diffs)
    sys.exit(1 if any(h.error for h in hosts) else 0)


@click.command("rollback")
@click.argument("service_name", metavar="SERVICE")
@click.option("--to", "to", help="The kept release to go back to (default: the one before the current one).")
@_connection_options
@_rollout_options
@click.pass_context
def rollback_command(ctx: click.Context, service_name: str, to: str | None, **params: Any) -> None:
    """Switch SERVICE's hosts back to the previous (or the named) kept release, with health checks.

    -o json prints the deployment record, as `oam deploy -o json` does.

    \b
    Examples:
      oam rollback shop
      oam rollback shop --to 1.3.2
    """
    options = _options(ctx, params)
    with _registry(ctx, params) as registry, reported(*_ERRORS):
        outcome, record = service.rollback(registry, service_name, to, options)
    _say_outcome(outcome, record, params["output"])
    if outcome.result == "not_started" and to is not None:
        kept = sorted({r.version for h in outcome.hosts for r in h.releases})
        raise click.ClickException(f"cannot roll back {service_name} to {to}: not kept on every host "
                                   f"(known versions: {', '.join(kept) or 'none'})")
    sys.exit(outcome.exit_code)


@click.command("releases")
@click.argument("service_name", metavar="SERVICE")
@_connection_options
@click.option("--history", "history", type=int, default=0, help="Also list the newest N deployment records.")
@click.pass_context
def releases_command(ctx: click.Context, service_name: str, history: int, **params: Any) -> None:
    """List the releases kept on each host of SERVICE; * marks the current one.

    \b
    -o json: {"hosts": [{"host", "address", "current", "releases": [{"version", "deployed_at"}],
    "error"}], "deployments": [deployment records, newest first (with --history)]}.
    """
    options = _options(ctx, params)
    with _registry(ctx, params) as registry, reported(*_ERRORS):
        hosts = service.releases(registry, service_name, options)
        records = registry.list_deployments(service_name, history) if history else []
    if params["output"] == "json":
        echo_json({"hosts": releases_data(hosts), "deployments": records})
        sys.exit(1 if any(h.error for h in hosts) else 0)
    click.echo(releases_table(hosts))
    for record in records:
        counts: dict[str, int] = {}
        for host in record.get("hosts", []):
            counts[host["status"]] = counts.get(host["status"], 0) + 1
        tally = ", ".join(f"{count} {status}" for status, count in counts.items())
        click.echo(f"{record['id']}  {record.get('finished', '?')}  {record['action']} {record['version']} by "
                   f"{record.get('user', '?')}: {record['result']} ({tally})")
    sys.exit(1 if any(h.error for h in hosts) else 0)


@click.command("deploy-config")
@click.argument("service_name", metavar="SERVICE")
@click.argument("file", required=False, type=click.File("r"))
@click.option("--environment", "-e", envvar="OAM_ENVIRONMENT", default="production", show_default=True,
              help="[env OAM_ENVIRONMENT]")
@click.option("--comment", "-m", default="", help="Why; kept in the CMDB history of the key.")
@cmdb_options
@output_option
@click.pass_context
def deploy_config_command(ctx: click.Context, service_name: str, file, comment: str, **params: Any) -> None:
    """Show SERVICE's deploy configuration, or store FILE (JSON, '-' for stdin) after checking it.

    It is the CMDB key <environment>/<service>/deploy, versioned like any other. The
    configuration always prints as JSON; storing with -o json prints {"key", "version"}.
    """
    with _registry(ctx, params) as registry, reported(*_ERRORS):
        if file is None:
            click.echo(json.dumps(registry.load_service_config(service_name), indent=2, sort_keys=True))
            return
        try:
            data = json.load(file)
        except ValueError as exc:
            raise click.ClickException(f"{file.name} is not JSON: {exc}") from exc
        parse_config(service_name, data, Path(file.name).name if file.name != "<stdin>" else "stdin")
        version = registry.save_service_config(service_name, data, comment=comment)
    if params["output"] == "json":
        echo_json({"key": registry.config_key(service_name), "version": version})
        return
    click.echo(f"stored {registry.config_key(service_name)} version {version}")


