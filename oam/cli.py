"""``oam``: one command, a subcommand per piece of the suite.

Each piece registers its own click command or group in :data:`COMMANDS`.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import click

from backing_services.process import ServiceError, tail
from foundation.cli_options import output_option
from foundation.extras import SUITE_EXTRA, MissingExtra, import_for, needs_suite
from foundation.output import echo_json, run, table
from foundation.reload import raise_interrupt
from foundation.settings import SettingsError
from foundation.waiting import wait_until

from . import __version__
from .config import Settings, load


class Context:
    """What every subcommand gets: the settings, loaded once."""

    def __init__(self, config: Path | None, data_dir: Path | None) -> None:
        self._config, self._data_dir = config, data_dir
        self.settings: Settings = self._load()

    def _load(self) -> Settings:
        settings = load(self._config)
        if self._data_dir is not None:
            settings.data_dir = self._data_dir
        return settings

    def reload(self) -> None:
        """Read the settings file anew (a daemon's SIGHUP); a bad file raises and the old settings stay."""
        self.settings = self._load()


# Each piece of the suite names its commands here as "module:attribute". They are imported on
# first use, so `oam agent run` does not load Flask, the collector or the deployer. A piece whose
# packages are not installed (a host with only `oam-suite[agent]`) is listed, and using it prints
# one line naming the missing package and the extra that brings it.
PIECES: dict[str, str] = {
    "agent": "agents.host.cli:agent",
    "alerts": "alerts.cli:alerts",
    "bench": "oam.benchmarks.cli:bench",
    "cmdb": "cmdb.cli:cmdb_group",
    "dashboard": "dashboard.cli:dashboard",
    "collector": "collector.cli:collector_group",
    "deploy": "deployer.cli:deploy_command",
    "deploy-config": "deployer.cli:deploy_config_command",
    "load": "order_service.cli:load",
    "releases": "deployer.cli:releases_command",
    "rollback": "deployer.cli:rollback_command",
    "sample": "order_service.cli:sample",
    "trace": "collector.cli:trace_command",
    "traces": "dashboard.traces_cli:traces",
}


# Exceptions defined in these packages are the suite's own: `oam` prints their message as one line.
SUITE_PACKAGES = ("foundation", "telemetry", "backing_services", "cmdb", "remote", "collector", "deployer", "agents",
                  "alerts", "dashboard", "order_service", "oam")


class SuiteGroup(click.Group):
    """The ``oam`` group: its own commands plus each piece's, loaded lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *PIECES})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in PIECES:
            module, attribute = PIECES[name].split(":")
            try:
                return getattr(import_for(name, module), attribute)
            except MissingExtra as missing:
                return _unavailable(name, missing)
        return super().get_command(ctx, name)


def _unavailable(name: str, missing: MissingExtra) -> click.Command:
    """A stand-in for a piece that cannot be imported: listed in `oam --help`, and any use prints the error."""
    def fail() -> None:
        raise missing

    return click.Command(name, callback=fail, add_help_option=False, short_help=f"(needs pip install '{SUITE_EXTRA}')",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


@click.group(cls=SuiteGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="oam")
@click.option("--config", type=click.Path(path_type=Path), help="TOML settings file (default: ./oam.toml, /etc/oam/oam.toml).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where services keep data, logs and pid files.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, data_dir: Path | None) -> None:
    """OAM: metrics, logs, traces, errors, CMDB and deploys for a small team's web service.

    \b
    Quick start:
      oam up            start the suite on this machine (Ctrl-C stops it)
      oam status        health of every piece
      eval "$(oam env)" use the local suite's CMDB and sandbox hosts from this shell
      oam down          stop a suite started elsewhere (or with --detach)
    """
    ctx.obj = Context(config, data_dir)


@cli.command()
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True, help="Seconds to wait for each service to be healthy.")
@click.option("--detach", is_flag=True, help="Run in the background; `oam down` stops it.")
@click.option("--sample/--no-sample", default=True, show_default=True,
              help="Also run the sample order service (Redis, backend, worker, gateway) under gentle load.")
@click.pass_obj
def up(obj: Context, timeout: float, detach: bool, sample: bool) -> None:
    """Start the suite on loopback and keep it running until Ctrl-C.

    ZooKeeper, Elasticsearch, two collectors and the dashboard; then (unless --no-sample) Redis,
    the sample order service under a gentle load, a host agent shipping its telemetry, and three
    local SSH hosts (127.0.0.2-4) to deploy the order service to (see `oam env`).

    A piece that exits is restarted after a back-off (1 s, doubling up to 30 s); one that exits
    more than 5 times within 120 s is given up, alone ([supervision] in oam.toml; `oam status`).
    """
    settings = obj.settings
    if detach:
        sys.exit(_detach(settings, timeout, sample))
    stack = import_for("up", "oam.stack").LocalStack(settings, say=lambda line: click.echo(line, err=True), with_sample=sample)
    signal.signal(signal.SIGTERM, raise_interrupt)  # `oam down` and service managers send SIGTERM
    # Ctrl-C stops the suite even when SIGINT came ignored (Python then leaves it ignored: a `cmd &`
    # of a non-interactive shell, or a parent that ignores it, would make `oam up` deaf to Ctrl-C).
    signal.signal(signal.SIGINT, raise_interrupt)
    running = False
    try:
        stack.start(timeout=timeout)
        running = True
        _print_table(stack.status())
        _print_login(settings)
        click.echo(f"data in {settings.data_dir}; press Ctrl-C to stop (or run `oam down`).", err=True)
        code = stack.wait(timeout=timeout)
    except KeyboardInterrupt:
        code = 0 if running else 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    click.echo("stopped.", err=True)
    sys.exit(code)


def _detach(settings: Settings, timeout: float, sample: bool) -> int:
    stack = import_for("up", "oam.stack")
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.run_dir / "up.log"
    argv = [sys.executable, "-m", "oam", "--data-dir", str(settings.data_dir)]
    if settings.source:
        argv += ["--config", str(settings.source)]
    with open(log_path, "ab") as log:
        child = subprocess.Popen([*argv, "up", "--timeout", str(timeout), "--sample" if sample else "--no-sample"],
                                 stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    def settled() -> str | None:
        state = stack.read_state(settings)
        if state and state.get("pid") == child.pid and state.get("phase") == "running":
            return "running"
        return "exited" if child.poll() is not None else None

    try:
        outcome = wait_until(settled, timeout=2 * timeout + 10, interval=0.5, what="oam up to be running")
    except TimeoutError:
        click.echo(f"Error: oam up not ready within {2 * timeout + 10:.0f}s; see {log_path}", err=True)
        return 1
    if outcome == "exited":
        click.echo(f"last lines of {log_path}:\n{tail(log_path, 30)}", err=True)
        click.echo(f"Error: oam up failed (exit {child.returncode}); its log is {log_path}", err=True)
        return 1
    _print_table(stack.status(settings))
    _print_login(settings)
    click.echo(f"running in the background (pid {child.pid}, log {log_path}); `oam down` stops it.")
    return 0


def _print_login(settings: Settings) -> None:
    password_file = settings.run_dir / "dashboard-admin.password"
    if password_file.exists():
        click.echo(f"dashboard: http://{settings.host}:{settings.ports.dashboard}/  "
                   f"login: admin, password: $(cat {password_file})")


def _print_table(rows: list) -> None:
    click.echo(table([[row.name, row.address, "healthy" if row.healthy else "DOWN", row.detail] for row in rows]))


@cli.command("status")
@output_option
@click.pass_obj
def status_command(obj: Context, output: str) -> None:
    """Health of each piece. Exit code 0 if all are healthy, 1 otherwise.

    With -o json: a list of {"name", "address", "healthy": true|false, "detail"}.
    """
    rows = import_for("status", "oam.stack").status(obj.settings)
    if output == "json":
        echo_json([{"name": r.name, "address": r.address, "healthy": r.healthy, "detail": r.detail} for r in rows])
    else:
        _print_table(rows)
    sys.exit(0 if all(row.healthy for row in rows) else 1)


@cli.command("env")
@output_option
@click.pass_obj
def env_command(obj: Context, output: str) -> None:
    """Print shell exports for using the local suite: load them with  eval "$(oam env)".

    \b
    They give `oam deploy`, `oam rollback`, `oam cmdb` and `oam sample` the suite's CMDB
    account, the `development` environment and the sandbox hosts' SSH key and known_hosts;
    `oam trace` and `oam agent install` the collector's URL (and `oam trace` a read token).
    -o json: the same variables as one object of names and values.
    """
    import shlex

    with needs_suite("env"):
        from . import sandbox
        from .programs import collector_environment
        from .suite_secrets import cmdb_credentials

    settings = obj.settings
    if not (settings.run_dir / "cmdb-suite.password").exists() and not settings.cmdb.password:
        raise click.ClickException(f"no suite has run with data dir {settings.data_dir} yet; start it with `oam up`")
    variables = {**sandbox.shell_environment(settings, cmdb_credentials(settings)), **collector_environment(settings)}
    if output == "json":
        echo_json(variables)
        return
    for name, value in variables.items():
        click.echo(f"export {name}={shlex.quote(value)}")


@cli.command("down")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, help="Seconds to wait for a clean stop before killing.")
@output_option
@click.pass_obj
def down_command(obj: Context, timeout: float, output: str) -> None:
    """Stop the suite that `oam up` started, and anything an earlier crash left behind.

    With -o json: {"stopped": [what was stopped, e.g. "oam up (pid 4242)", "leftover redis"]}.
    """
    stopped = import_for("down", "oam.stack").down(obj.settings, timeout)
    if output == "json":
        echo_json({"stopped": stopped})
        return
    click.echo("stopped: " + ", ".join(stopped) if stopped else "nothing was running.")


def main() -> None:
    """Entry point: every error ends in one ``Error: <message>`` line, not a traceback."""
    run(cli, known=(SettingsError, ServiceError, OSError), packages=SUITE_PACKAGES)
