"""``oam agent install``: put the agent on hosts over SSH and wait until each is live.

The suite is built once into a wheelhouse (the project's wheel and the agent's dependencies), packed,
uploaded to each host and checked by SHA-256 there, installed into a virtualenv without
reaching any package index, configured (files in :mod:`agents.host.layout`'s places, written
over SFTP: the token and the CMDB password never appear in a command line), and started as
the ``oam-agent`` account — as a hardened systemd unit where systemd runs, else under a small
supervisor script with a pid file. Hosts are done in parallel; a failing host is reported and
never stops the others.
"""
from __future__ import annotations

import hashlib
import posixpath
import shlex
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from foundation.settings import toml_text
from remote import RemoteError, RemoteHost, SshHost, SshOptions

from .layout import LOG_GROUPS, UNIT, USER, Layout, supervisor_text, unit_text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What each host gets: the agent's dependencies only, not the collector's, dashboard's or deployer's.
EXTRA = "agent"
REQUIREMENT = f"oam-suite[{EXTRA}]"


@dataclass(frozen=True)
class InstallPlan:
    """What every host gets; ``root`` (the tree the files go under) may hold ``{name}``."""

    collector_urls: list[str]
    token: str
    root: str = "/"
    python: str = "python3"
    log_paths: list[str] = field(default_factory=list)
    scrape_urls: list[str] = field(default_factory=list)
    role: str = ""
    environment: str = "production"
    interval: float = 10.0
    metrics_port: int = 9110
    cmdb_hosts: str = ""
    cmdb_user: str = ""
    cmdb_password: str = ""
    cmdb_root: str = ""

    def layout_for(self, host: SshHost) -> Layout:
        return Layout(self.root.format(name=host.name))

    def config_for(self, host: SshHost) -> str:
        """The host's agent.toml, secrets included (it is written with mode 600)."""
        layout = self.layout_for(host)
        config: dict = {
            "agent": {"id": host.name, "data_dir": layout.data_dir, "interval": self.interval,
                      "metrics_port": self.metrics_port, "environment": self.environment, "role": self.role},
            "collector": {"urls": list(self.collector_urls), "token": self.token},
            "logs": {"paths": list(self.log_paths)},
            "scrape": [{"url": url} for url in self.scrape_urls],
        }
        if self.cmdb_hosts:
            config["cmdb"] = {"hosts": self.cmdb_hosts, "user": self.cmdb_user, "password": self.cmdb_password,
                              "root": self.cmdb_root or None}
        return toml_text(config)


@dataclass
class HostResult:
    host: str
    ok: bool = False
    step: str = ""
    message: str = ""
    seconds: float = 0.0
    steps: list[str] = field(default_factory=list)


def build_bundle(work: Path, say: Callable[[str], None], python: str = "") -> tuple[Path, str]:
    """``oam-suite[agent]`` and its dependencies as wheels in one tarball; returns (path, sha256).

    The wheels are built by ``python`` if it is an absolute path that exists here too (the hosts'
    interpreter: dependencies then match its exact version), else by this interpreter.
    """
    wheels = work / "wheelhouse"
    bundle = work / "oam-agent-bundle.tar.gz"
    builder = python if python.startswith("/") and Path(python).exists() else sys.executable
    if not bundle.exists():
        say(f"building the wheelhouse ({REQUIREMENT} and its dependencies) with {builder} ...")
        result = subprocess.run([builder, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels),
                                 f"{PROJECT_ROOT}[{EXTRA}]"], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError("pip wheel failed: " + " | ".join(result.stderr.strip().splitlines()[-3:]))
        with tarfile.open(bundle, "w:gz") as archive:
            archive.add(wheels, arcname="wheelhouse")
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    return bundle, digest


def _account_command() -> str:
    """Create the system account (and add it to the groups that read logs); retried, as hosts
    sharing one /etc (the tests' loopback hosts) may lock the account files at the same time."""
    groups = " ".join(LOG_GROUPS)
    once = (f"{{ id -u {USER} >/dev/null 2>&1 || useradd --system --user-group --no-create-home "
            f"--home-dir /var/lib/oam/agent --shell /usr/sbin/nologin {USER}; }} && "
            f"for g in {groups}; do if getent group $g >/dev/null && ! id -nG {USER} | grep -qw $g; then "
            f"usermod -a -G $g {USER} || exit 1; fi; done")
    return f"for i in 1 2 3 4 5 6 7 8 9 10; do ( {once} ) 2>/dev/null && break; sleep 1; done; ( {once} )"


def _prepare_command(layout: Layout) -> str:
    q = shlex.quote
    return (f"{_account_command()} && install -d -m 755 {q(layout.prefix)} {q(posixpath.dirname(layout.unit))} && "
            f"install -d -m 750 -o root -g {USER} {q(layout.config_dir)} && "
            f"install -d -m 750 -o {USER} -g {USER} {q(layout.data_dir)}")


def _systemd(layout: Layout) -> str:
    """A shell test: true where systemd runs and the tree is the host's own."""
    return ("[ -d /run/systemd/system ] && command -v systemctl >/dev/null"
            if layout.root == "/" else "false")


def _stop_supervisor(layout: Layout) -> str:
    pid = shlex.quote(layout.prefix + "/agent.pid")
    return (f"if [ -f {pid} ] && kill -0 $(cat {pid}) 2>/dev/null; then kill -TERM $(cat {pid}); "
            f"for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 $(cat {pid}) 2>/dev/null || break; sleep 1; done; fi; "
            f"rm -f {pid}")


def _start_command(layout: Layout) -> str:
    """Start (or restart) the agent: the systemd unit where systemd runs, else the supervisor script."""
    q = shlex.quote
    # Only setsid goes to the background (not a subshell holding the SSH channel's output open).
    background = (f"{_stop_supervisor(layout)}; cd {q(layout.prefix)} || exit 1; "
                  f"setsid nohup ./supervise > agent.log 2>&1 < /dev/null & echo $! > agent.pid")
    return (f"if {_systemd(layout)}; then systemctl daemon-reload && systemctl enable {UNIT} && "
            f"systemctl restart {UNIT}; else {background}; fi")


def _stop_command(layout: Layout) -> str:
    q = shlex.quote
    return (f"if {_systemd(layout)} && [ -f {q(layout.unit)} ]; then systemctl disable --now {UNIT}; fi; "
            f"{_stop_supervisor(layout)}; rm -rf {q(layout.unit)} {q(layout.prefix)} {q(layout.config)} "
            f"{q(layout.data_dir)}; rmdir {q(layout.config_dir)} 2>/dev/null; "
            f"if {_systemd(layout)}; then systemctl daemon-reload; fi; true")


def install_host(host: SshHost, plan: InstallPlan, ssh: SshOptions, bundle: Path, digest: str,
                 wait_live: Callable[[str], bool], progress: Callable[[str, str], None]) -> HostResult:
    """Install on one host; never raises — the result says what happened."""
    result = HostResult(host.name)
    began = time.monotonic()
    layout = plan.layout_for(host)
    prefix = layout.prefix
    q = shlex.quote

    def step(name: str, action: Callable[[], object]) -> None:
        result.step = name
        progress(host.name, f"{name} ...")
        action()
        result.steps.append(name)

    try:
        with RemoteHost(host, ssh) as remote:
            step("connect", remote.connect)
            step("prepare", lambda: remote.run("prepare", _prepare_command(layout), 60))
            step("upload", lambda: remote.put("upload", bundle, f"{prefix}/bundle.tar.gz"))
            step("verify", lambda: _verify(remote, prefix, digest))
            step("install", lambda: remote.run(
                "install", f"cd {q(prefix)} && rm -rf wheelhouse && tar xzf bundle.tar.gz && "
                           f"{q(plan.python)} -m venv venv && venv/bin/pip install --quiet --no-index "
                           f"--find-links wheelhouse {q(REQUIREMENT)}", 600))
            step("configure", lambda: _configure(remote, host, plan, layout))
            step("start", lambda: remote.run("start", _start_command(layout), 60))
        step("live", lambda: _check(wait_live(host.name), "did not show up live in time; see `journalctl -u "
                                                          f"{UNIT}` or {prefix}/agent.log on the host"))
        result.ok = True
        result.step = "done"
    except RemoteError as exc:
        result.step, result.message = exc.step, str(exc)
    except RuntimeError as exc:
        result.message = str(exc)
    result.seconds = time.monotonic() - began
    progress(host.name, "installed and live" if result.ok else f"FAILED at {result.step}: {result.message}")
    return result


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise RuntimeError(message)


def _verify(remote: RemoteHost, prefix: str, digest: str) -> None:
    output = remote.run("verify", f"sha256sum {shlex.quote(prefix + '/bundle.tar.gz')}", 60)
    if output.split()[0] != digest:
        raise RemoteError("verify", f"checksum mismatch after upload ({output.split()[0][:12]} != {digest[:12]})")


def _configure(remote: RemoteHost, host: SshHost, plan: InstallPlan, layout: Layout) -> None:
    """The settings (secrets included), the unit and the supervisor, over SFTP; then their owners."""
    remote.put_text("configure", plan.config_for(host), layout.config, 0o600)
    remote.put_text("configure", unit_text(layout), layout.unit, 0o644)
    remote.put_text("configure", supervisor_text(layout), layout.prefix + "/supervise", 0o755)
    remote.run("configure", f"chown {USER}:{USER} {shlex.quote(layout.config)}", 30)


def uninstall_host(host: SshHost, plan: InstallPlan, ssh: SshOptions) -> HostResult:
    """Stop the agent and remove its files (the oam-agent account stays, as packages leave theirs)."""
    result = HostResult(host.name)
    began = time.monotonic()
    try:
        with RemoteHost(host, ssh) as remote:
            remote.run("stop", _stop_command(plan.layout_for(host)), 60)
        result.ok, result.step = True, "removed"
    except RemoteError as exc:
        result.step, result.message = exc.step, str(exc)
    result.seconds = time.monotonic() - began
    return result


def install_all(hosts: list[SshHost], plan: InstallPlan, ssh: SshOptions, work: Path,
                wait_live: Callable[[str], bool], progress: Callable[[str, str], None],
                parallel: int = 4) -> list[HostResult]:
    bundle, digest = build_bundle(work, lambda line: progress("-", line), plan.python)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(install_host, host, plan, ssh, bundle, digest, wait_live, progress) for host in hosts]
        return [future.result() for future in futures]
