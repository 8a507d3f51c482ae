"""``oam agent run``: the host agent daemon; ``oam agent install|uninstall``: put it on hosts over SSH.

``install`` and ``uninstall`` print one summary row per host; with ``-o json`` a list of
``{"host", "ok", "step", "seconds", "message"}``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from foundation.cli_options import CmdbConnection, cmdb_options, log_format_option, output_option
from foundation.daemon_logging import configure_daemon_logging
from foundation.extras import needs_suite
from foundation.output import echo_json, reported, table
from foundation.settings import SettingsError
from foundation.waiting import wait_until

from .config import load_agent_config

if TYPE_CHECKING:  # SSH (Fabric) is loaded only by the commands that use it, not by `oam agent run`
    from remote import SshHost, SshOptions


STOP_GRACE = 10.0


def _leave_after(seconds: float) -> None:
    time.sleep(seconds)
    logging.getLogger("oam.agent").warning("clean stop took over %.0fs; leaving now", seconds)
    os._exit(0)


@click.group("agent")
def agent() -> None:
    """The host agent: system metrics, Prometheus scrapes and log files, shipped to the collectors."""


@agent.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="The agent's TOML settings (see docs/agent.md).")
@click.option("-v", "--verbose", is_flag=True, help="Log every batch.")
@cmdb_options
@log_format_option
def run(config_path: Path, verbose: bool, cmdb: CmdbConnection, log_format: str) -> None:
    """Run until SIGTERM or Ctrl-C; checkpoints survive any stop, SIGKILL included. SIGHUP re-reads
    the config file (log paths, scrapes, interval, collectors, token) without a restart.

    The CMDB options (and their OAM_CMDB_* variables) override the config's [cmdb] table.
    """
    from .daemon import HostAgent

    configure_daemon_logging("oam-agent", "debug" if verbose else "info", log_format)
    with reported(SettingsError):
        config = load_agent_config(config_path)
    overrides = {name: value for name, value in (("cmdb_hosts", cmdb.zk), ("cmdb_user", cmdb.user),
                                                 ("cmdb_password", cmdb.password), ("cmdb_root", cmdb.root))
                 if value is not None}
    config = config.model_copy(update=overrides)
    daemon = HostAgent(config)

    def stop(*_: object) -> None:
        daemon.stop.set()
        # Checkpoints are written atomically, so a stop may be hard: if a dead ZooKeeper or
        # collector holds the clean stop up, the process leaves anyway after STOP_GRACE seconds.
        threading.Thread(target=_leave_after, args=(STOP_GRACE,), daemon=True).start()

    def reload(*_: object) -> None:
        try:
            daemon.reload(load_agent_config(config_path).model_copy(update=overrides))
        except SettingsError as exc:
            logging.getLogger("oam.agent").error("SIGHUP: %s; the running settings stay", exc)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    daemon.run()


def _parse_host(text: str) -> SshHost:
    from remote import SshHost

    name, _, address = text.partition("@")
    if not name or not address:
        raise click.BadParameter(f"{text!r}: expected NAME@ADDRESS[:PORT]", param_hint="--host")
    address, _, port = address.partition(":")
    if port and not port.isdigit():
        raise click.BadParameter(f"{text!r}: the port must be a number", param_hint="--host")
    return SshHost(name=name, address=address, port=int(port or 22))


def _ssh_options(known_hosts: Path, identity: Path | None, trust: bool) -> SshOptions:
    from remote import SshOptions

    return SshOptions(known_hosts=known_hosts, identity=identity, trust_new_host_keys=trust)


_ssh = [
    click.option("--host", "hosts", multiple=True, metavar="NAME@ADDRESS[:PORT]",
                 help="A host (repeat, or give several comma-separated to --hosts)."),
    click.option("--hosts", "host_lists", multiple=True, metavar="H1,H2,...", hidden=False,
                 help="Comma-separated NAME@ADDRESS[:PORT] list."),
    click.option("--role", default="", help="Also every known host of this role in the CMDB (needs --zk)."),
    click.option("--install-root", "root", default="/", show_default=True,
                 help="Put the files under this directory instead of / ('{name}' becomes the host's name; "
                      "for hosts sharing one file system — the agent then runs without systemd)."),
    click.option("--identity", type=click.Path(path_type=Path), envvar="OAM_SSH_KEY",
                 help="SSH private key (default: ssh's own) [env OAM_SSH_KEY]."),
    click.option("--known-hosts", type=click.Path(path_type=Path), envvar="OAM_KNOWN_HOSTS",
                 default=Path.home() / ".ssh" / "known_hosts", show_default=True,
                 help="Host keys are checked against this file [env OAM_KNOWN_HOSTS]."),
    click.option("--trust-new-host-keys", is_flag=True, help="Accept and remember unknown host keys."),
    cmdb_options,
    output_option,
]


def ssh_options(func):
    for option in reversed(_ssh):
        func = option(func)
    return func


def _hosts_from(hosts: tuple[str, ...], host_lists: tuple[str, ...], role: str, cmdb) -> list[SshHost]:
    from remote import SshHost

    texts = [*hosts, *(item.strip() for group in host_lists for item in group.split(",") if item.strip())]
    specs = [_parse_host(text) for text in texts]
    if role:
        if cmdb is None:
            raise click.UsageError("--role needs --zk (the CMDB) to look the hosts up")
        for name, facts in sorted(cmdb.inventory.known().items()):
            if facts.role == role and name not in {s.name for s in specs}:
                address = (facts.addresses or [name])[0]
                port = str(facts.labels.get("ssh_port", 22))
                if not port.isdigit() or not 0 < int(port) < 65536:
                    raise click.UsageError(f"host {name} in the CMDB has ssh_port label {port!r}; expected a port number")
                specs.append(SshHost(name=name, address=address, port=int(port)))
    if not specs:
        raise click.UsageError("no hosts: give --host NAME@ADDRESS[:PORT] or --role with --zk")
    return specs


def _cmdb(connection: CmdbConnection):
    if not connection.zk:
        return None
    from cmdb import Cmdb, CmdbError

    with reported(CmdbError):
        return Cmdb(connection.zk, **connection.client_kwargs())


@agent.command()
@ssh_options
@click.option("--collector", "collectors", multiple=True, required=True, envvar="OAM_COLLECTOR_URL",
              help="Collector URL (repeat for failover) [env OAM_COLLECTOR_URL].")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="File holding the agent's collector token (oam collector token issue NAME).")
@click.option("--log-path", "log_paths", multiple=True, help="Glob of log or span files to ship (repeat).")
@click.option("--scrape", "scrapes", multiple=True, help="Prometheus endpoint to scrape (repeat).")
@click.option("--environment", "-e", envvar="OAM_ENVIRONMENT", default="production", show_default=True,
              help="The environment the agents report [env OAM_ENVIRONMENT].")
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Seconds between metric collections.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=9110, show_default=True,
              help="The agents' own /metrics on 127.0.0.1 (0: off).")
@click.option("--python", default="python3", show_default=True, help="Interpreter (3.11+) on the hosts.")
@click.option("--live-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, help="Seconds to wait for each host to be live.")
@click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True, help="Hosts installed at once.")
def install(hosts, host_lists, role, root, identity, known_hosts, trust_new_host_keys, cmdb, output, collectors,
            token_file, log_paths, scrapes, environment, interval, metrics_port, python, live_timeout,
            parallel) -> None:
    """Install and start the agent on hosts over SSH; wait until each is live in the CMDB.

    Each host gets the oam-agent account, /opt/oam-agent (the virtualenv), /etc/oam/agent.toml
    (mode 600, written over SFTP with the token and CMDB password), /var/lib/oam/agent and the
    hardened oam-agent.service unit (see docs/agent.md).

    The hosts' agents get the same CMDB connection (--zk, --cmdb-user, --cmdb-password,
    --cmdb-root). -o json: a list of {"host", "ok", "step", "seconds", "message"}.

    \b
    Example:
      oam agent install --host web-1@10.0.0.11 --host web-2@10.0.0.12 \\
          --collector http://10.0.0.5:4318 --token-file agent.token \\
          --log-path '/var/log/app/*.log*' --zk 10.0.0.7:2181 --role web
    """
    import tempfile

    with needs_suite("agent install"):  # SSH (Fabric) comes with the suite's packages
        from .install import InstallPlan, install_all

    with _cmdb(cmdb) or contextlib.nullcontext() as handle:  # closed on every way out
        specs = _hosts_from(hosts, host_lists, role, handle)
        plan = InstallPlan(collector_urls=list(collectors), token=token_file.read_text().strip(), root=root,
                           python=python, metrics_port=metrics_port, log_paths=list(log_paths), scrape_urls=list(scrapes), role=role,
                           environment=environment, interval=interval, cmdb_hosts=cmdb.zk or "",
                           cmdb_user=cmdb.user or "", cmdb_password=cmdb.password or "",
                           cmdb_root=cmdb.root or "")

        def wait_live(name: str) -> bool:
            if handle is None:
                return True  # nothing to ask: the start command succeeded
            try:
                return wait_until(lambda: name in handle.inventory.live(), timeout=live_timeout, interval=0.5,
                                  what=f"{name} to register live in the CMDB")
            except TimeoutError:
                return False

        def progress(host: str, message: str) -> None:
            click.echo(f"  {time.strftime('%H:%M:%S')} [{host}] {message}", err=True)

        work = Path(os.environ.get("OAM_AGENT_BUNDLE_DIR", "") or tempfile.mkdtemp(prefix="oam-agent-bundle-"))
        work.mkdir(parents=True, exist_ok=True)
        results = install_all(specs, plan, _ssh_options(known_hosts, identity, trust_new_host_keys), work,
                              wait_live, progress, parallel)
    _summary(results, output)
    if not all(result.ok for result in results):
        raise SystemExit(1)


@agent.command()
@ssh_options
def uninstall(hosts, host_lists, role, root, identity, known_hosts, trust_new_host_keys, cmdb, output) -> None:
    """Stop the agent on hosts and remove its files (the oam-agent account stays). -o json: as `install -o json`."""
    with needs_suite("agent uninstall"):
        from .install import InstallPlan, uninstall_host

    with _cmdb(cmdb) or contextlib.nullcontext() as handle:  # closed on every way out
        specs = _hosts_from(hosts, host_lists, role, handle)
    plan = InstallPlan(collector_urls=[], token="", root=root)
    results = [uninstall_host(spec, plan, _ssh_options(known_hosts, identity, trust_new_host_keys)) for spec in specs]
    _summary(results, output)
    if not all(result.ok for result in results):
        raise SystemExit(1)


def _summary(results, output: str) -> None:
    if output == "json":
        echo_json([{"host": r.host, "ok": r.ok, "step": r.step, "seconds": round(r.seconds, 3), "message": r.message}
                   for r in results])
        return
    click.echo(table([[r.host, "ok" if r.ok else "FAILED", r.step, f"{r.seconds:.1f}", r.message] for r in results],
                     headers=["HOST", "RESULT", "STEP", "SECONDS", "DETAIL"],
                     align=["left", "left", "left", "right", "left"]))
