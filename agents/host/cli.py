"""``oam agent run``: the host agent daemon."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import click

from foundation.settings import SettingsError
from foundation.waiting import wait_until

from .config import load_agent_config


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
def run(config_path: Path, verbose: bool) -> None:
    """Run until SIGTERM or Ctrl-C; checkpoints survive any stop, SIGKILL included."""
    from .daemon import HostAgent

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_agent_config(config_path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    daemon = HostAgent(config)

    def stop(*_: object) -> None:
        daemon.stop.set()
        # Checkpoints are written atomically, so a stop may be hard: if a dead ZooKeeper or
        # collector holds the clean stop up, the process leaves anyway after STOP_GRACE seconds.
        threading.Thread(target=_leave_after, args=(STOP_GRACE,), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    daemon.run()


def _parse_host(text: str) -> "HostSpec":
    from deployer.config import HostSpec

    name, _, address = text.partition("@")
    if not name or not address:
        raise click.BadParameter(f"{text!r}: expected NAME@ADDRESS[:PORT]", param_hint="--host")
    address, _, port = address.partition(":")
    if port and not port.isdigit():
        raise click.BadParameter(f"{text!r}: the port must be a number", param_hint="--host")
    return HostSpec(name=name, address=address, deploy_root="/", port=int(port or 22))


def _ssh_options(known_hosts: Path, identity: Path | None, trust: bool):
    from deployer.remote import SshOptions

    return SshOptions(known_hosts=known_hosts, identity=identity, trust_new_host_keys=trust)


_ssh = [
    click.option("--host", "hosts", multiple=True, metavar="NAME@ADDRESS[:PORT]",
                 help="A host (repeat, or give several comma-separated to --hosts)."),
    click.option("--hosts", "host_lists", multiple=True, metavar="H1,H2,...", hidden=False,
                 help="Comma-separated NAME@ADDRESS[:PORT] list."),
    click.option("--role", default="", help="Also every known host of this role in the CMDB (needs --zk)."),
    click.option("--prefix", default="/opt/oam-agent", show_default=True,
                 help="Install directory on each host; '{name}' becomes the host's name."),
    click.option("--identity", type=click.Path(path_type=Path), help="SSH private key (default: ssh's own)."),
    click.option("--known-hosts", type=click.Path(path_type=Path), default=Path.home() / ".ssh" / "known_hosts",
                 show_default=True, help="Host keys are checked against this file."),
    click.option("--trust-new-host-keys", is_flag=True, help="Accept and remember unknown host keys."),
    click.option("--zk", "--cmdb", "cmdb_hosts", envvar="OAM_CMDB_ZK", default="", metavar="HOST:PORT[,...]",
                 help="The CMDB's ZooKeeper [env OAM_CMDB_ZK]; credentials from $OAM_CMDB_USER / "
                      "$OAM_CMDB_PASSWORD, tree from $OAM_CMDB_ROOT."),
]


def ssh_options(func):
    for option in reversed(_ssh):
        func = option(func)
    return func


def _hosts_from(hosts: tuple[str, ...], host_lists: tuple[str, ...], role: str, cmdb) -> list:
    from deployer.config import HostSpec

    texts = [*hosts, *(item.strip() for group in host_lists for item in group.split(",") if item.strip())]
    specs = [_parse_host(text) for text in texts]
    if role:
        if cmdb is None:
            raise click.UsageError("--role needs --zk (the CMDB) to look the hosts up")
        for name, facts in sorted(cmdb.inventory.known().items()):
            if facts.role == role and name not in {s.name for s in specs}:
                address = (facts.addresses or [name])[0]
                specs.append(HostSpec(name=name, address=address, deploy_root="/",
                                      port=int(facts.labels.get("ssh_port", 22))))
    if not specs:
        raise click.UsageError("no hosts: give --host NAME@ADDRESS[:PORT] or --role with --zk")
    return specs


def _cmdb(cmdb_hosts: str):
    if not cmdb_hosts:
        return None
    import os

    from cmdb import Cmdb

    options = {"user": os.environ.get("OAM_CMDB_USER"), "password": os.environ.get("OAM_CMDB_PASSWORD")}
    if os.environ.get("OAM_CMDB_ROOT"):
        options["root"] = os.environ["OAM_CMDB_ROOT"]
    return Cmdb(cmdb_hosts, **options)


@agent.command()
@ssh_options
@click.option("--collector", "collectors", multiple=True, required=True, help="Collector URL (repeat for failover).")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="File holding the agent's collector token (oam collector token issue NAME).")
@click.option("--log-path", "log_paths", multiple=True, help="Glob of log or span files to ship (repeat).")
@click.option("--scrape", "scrapes", multiple=True, help="Prometheus endpoint to scrape (repeat).")
@click.option("--environment", default="production", show_default=True)
@click.option("--interval", default=10.0, show_default=True, help="Seconds between metric collections.")
@click.option("--python", default="python3", show_default=True, help="Interpreter (3.11+) on the hosts.")
@click.option("--live-timeout", default=60.0, show_default=True, help="Seconds to wait for each host to be live.")
@click.option("--parallel", default=4, show_default=True, help="Hosts installed at once.")
def install(hosts, host_lists, role, prefix, identity, known_hosts, trust_new_host_keys, cmdb_hosts, collectors, token_file,
            log_paths, scrapes, environment, interval, python, live_timeout, parallel) -> None:
    """Install and start the agent on hosts over SSH; wait until each is live in the CMDB.

    \b
    Example:
      oam agent install --host web-1@10.0.0.11 --host web-2@10.0.0.12 \\
          --collector http://10.0.0.5:4318 --token-file agent.token \\
          --log-path '/var/log/app/*.log*' --zk 10.0.0.7:2181 --role web
    """
    import os
    import tempfile

    from .install import InstallPlan, install_all

    cmdb = _cmdb(cmdb_hosts)
    specs = _hosts_from(hosts, host_lists, role, cmdb)
    plan = InstallPlan(collector_urls=list(collectors), token=token_file.read_text().strip(), prefix=prefix,
                       python=python, log_paths=list(log_paths), scrape_urls=list(scrapes), role=role,
                       environment=environment, interval=interval, cmdb_hosts=cmdb_hosts,
                       cmdb_user=os.environ.get("OAM_CMDB_USER", ""),
                       cmdb_password=os.environ.get("OAM_CMDB_PASSWORD", ""),
                       cmdb_root=os.environ.get("OAM_CMDB_ROOT", ""))

    def wait_live(name: str) -> bool:
        if cmdb is None:
            return True  # nothing to ask: the start command succeeded
        try:
            return wait_until(lambda: name in cmdb.inventory.live(), timeout=live_timeout, interval=0.5,
                              what=f"{name} to register live in the CMDB")
        except TimeoutError:
            return False

    def progress(host: str, message: str) -> None:
        click.echo(f"  {time.strftime('%H:%M:%S')} [{host}] {message}", err=True)

    work = Path(os.environ.get("OAM_AGENT_BUNDLE_DIR", "") or tempfile.mkdtemp(prefix="oam-agent-bundle-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = install_all(specs, plan, _ssh_options(known_hosts, identity, trust_new_host_keys), work,
                              wait_live, progress, parallel)
    finally:
        if cmdb is not None:
            cmdb.close()
    _summary(results)
    if not all(result.ok for result in results):
        raise SystemExit(1)


@agent.command()
@ssh_options
def uninstall(hosts, host_lists, role, prefix, identity, known_hosts, trust_new_host_keys, cmdb_hosts) -> None:
    """Stop the agent on hosts and remove its install directory."""
    from .install import InstallPlan, uninstall_host

    cmdb = _cmdb(cmdb_hosts)
    specs = _hosts_from(hosts, host_lists, role, cmdb)
    plan = InstallPlan(collector_urls=[], token="", prefix=prefix)
    results = [uninstall_host(spec, plan, _ssh_options(known_hosts, identity, trust_new_host_keys)) for spec in specs]
    if cmdb is not None:
        cmdb.close()
    _summary(results)
    if not all(result.ok for result in results):
        raise SystemExit(1)


def _summary(results) -> None:
    click.echo(f"{'host':<16} {'result':<8} {'step':<10} {'seconds':>8}  detail")
    for result in results:
        click.echo(f"{result.host:<16} {'ok' if result.ok else 'FAILED':<8} {result.step:<10} "
                   f"{result.seconds:>8.1f}  {result.message}")
