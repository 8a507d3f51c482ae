"""``oam agent install``: put the agent on hosts over SSH and wait until each is live.

The suite is built once into a wheelhouse (the project's wheel and every dependency), packed,
uploaded to each host and checked by SHA-256 there, installed into a virtualenv without
reaching any package index, configured, and started — as a systemd unit where systemd runs,
else as a background process with a pid file. Hosts are done in parallel; a failing host is
reported and never stops the others.
"""
from __future__ import annotations

import hashlib
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
UNIT = "oam-agent.service"


@dataclass(frozen=True)
class InstallPlan:
    """What every host gets; ``prefix`` may hold ``{name}`` for a per-host directory."""

    collector_urls: list[str]
    token: str
    prefix: str = "/opt/oam-agent"
    python: str = "python3"
    log_paths: list[str] = field(default_factory=list)
    scrape_urls: list[str] = field(default_factory=list)
    role: str = ""
    environment: str = "production"
    interval: float = 10.0
    cmdb_hosts: str = ""
    cmdb_user: str = ""
    cmdb_password: str = ""
    cmdb_root: str = ""

    def prefix_for(self, host: SshHost) -> str:
        return self.prefix.format(name=host.name)

    def config_for(self, host: SshHost) -> str:
        """The host's agent.toml (secrets stay in files beside it)."""
        prefix = self.prefix_for(host)
        config: dict = {
            "agent": {"id": host.name, "data_dir": prefix + "/data", "interval": self.interval, "metrics_port": 0,
                      "environment": self.environment, "role": self.role},
            "collector": {"urls": list(self.collector_urls), "token_file": prefix + "/agent.token"},
            "logs": {"paths": list(self.log_paths)},
            "scrape": [{"url": url} for url in self.scrape_urls],
        }
        if self.cmdb_hosts:
            config["cmdb"] = {"hosts": self.cmdb_hosts, "user": self.cmdb_user,
                              "password_file": prefix + "/cmdb.password", "root": self.cmdb_root or None}
        return toml_text(config)


@dataclass
class HostResult:
    host: str
    ok: bool = False
    step: str = ""
    message: str = ""
    seconds: float = 0.0
    steps: list[str] = field(default_factory=list)


def build_bundle(work: Path, say: Callable[[str], None]) -> tuple[Path, str]:
    """The project and its dependencies as wheels in one tarball; returns (path, sha256)."""
    wheels = work / "wheelhouse"
    bundle = work / "oam-agent-bundle.tar.gz"
    if not bundle.exists():
        say("building the wheelhouse (the project and its dependencies) ...")
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels),
                                 str(PROJECT_ROOT)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError("pip wheel failed: " + " | ".join(result.stderr.strip().splitlines()[-3:]))
        with tarfile.open(bundle, "w:gz") as archive:
            archive.add(wheels, arcname="wheelhouse")
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    return bundle, digest


SUPERVISOR = """#!/bin/sh
# Keeps the OAM agent running (restarts it 2 s after it dies). Stop it with SIGTERM.
cd "$(dirname "$0")"
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM INT
while true; do
  ./venv/bin/oam agent run --config ./agent.toml &
  child=$!
  wait $child
  sleep 2
done
"""


def _start_command(prefix: str) -> str:
    """Start (or restart) the agent: a systemd unit where systemd runs, else the supervisor script."""
    q = shlex.quote
    unit = (f"[Unit]\\nDescription=OAM host agent\\nAfter=network-online.target\\n\\n[Service]\\n"
            f"ExecStart={prefix}/venv/bin/oam agent run --config {prefix}/agent.toml\\nRestart=always\\n\\n"
            f"[Install]\\nWantedBy=multi-user.target\\n")
    background = (f"cd {q(prefix)} && if [ -f agent.pid ] && kill -0 $(cat agent.pid) 2>/dev/null; "
                  f"then kill -TERM $(cat agent.pid); sleep 2; fi; "
                  f"setsid nohup ./supervise > agent.log 2>&1 < /dev/null & echo $! > agent.pid")
    return (f"if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then "
            f"printf '{unit}' > /etc/systemd/system/{UNIT} && systemctl daemon-reload && "
            f"systemctl enable {UNIT} && systemctl restart {UNIT}; else {background}; fi")


STOP_COMMAND = ("if [ -d /run/systemd/system ] && [ -f /etc/systemd/system/{unit} ]; then "
                "systemctl disable --now {unit}; rm -f /etc/systemd/system/{unit}; systemctl daemon-reload; fi; "
                "if [ -f {prefix}/agent.pid ]; then kill -TERM $(cat {prefix}/agent.pid) 2>/dev/null; "
                "for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 $(cat {prefix}/agent.pid) 2>/dev/null || break; "
                "sleep 1; done; fi")


def install_host(host: SshHost, plan: InstallPlan, ssh: SshOptions, bundle: Path, digest: str,
                 wait_live: Callable[[str], bool], progress: Callable[[str, str], None]) -> HostResult:
    """Install on one host; never raises — the result says what happened."""
    result = HostResult(host.name)
    began = time.monotonic()
    prefix = plan.prefix_for(host)
    q = shlex.quote

    def step(name: str, action: Callable[[], object]) -> None:
        result.step = name
        progress(host.name, f"{name} ...")
        action()
        result.steps.append(name)

    try:
        with RemoteHost(host, ssh) as remote:
            step("connect", remote.connect)
            step("prepare", lambda: remote.run("prepare", f"mkdir -p {q(prefix)}/data && chmod 700 {q(prefix)}", 30))
            step("upload", lambda: remote.put("upload", bundle, f"{prefix}/bundle.tar.gz"))
            step("verify", lambda: _verify(remote, prefix, digest))
            step("install", lambda: remote.run(
                "install", f"cd {q(prefix)} && rm -rf wheelhouse && tar xzf bundle.tar.gz && "
                           f"{q(plan.python)} -m venv venv && venv/bin/pip install --quiet --no-index "
                           f"--find-links wheelhouse oam-suite", 600))
            step("configure", lambda: _configure(remote, host, plan, prefix))
            step("start", lambda: remote.run("start", _start_command(prefix), 60))
        step("live", lambda: _check(wait_live(host.name), "did not show up live in time; see "
                                                          f"{prefix}/agent.log on the host"))
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


def _configure(remote: RemoteHost, host: SshHost, plan: InstallPlan, prefix: str) -> None:
    q = shlex.quote
    files = {"agent.toml": plan.config_for(host), "agent.token": plan.token + "\n", "supervise": SUPERVISOR}
    if plan.cmdb_hosts:
        files["cmdb.password"] = plan.cmdb_password + "\n"
    for name, text in files.items():
        remote.run("configure", f"umask 077 && printf %s {q(text)} > {q(prefix + '/' + name)}", 30)
    remote.run("configure", f"chmod 700 {q(prefix + '/supervise')}", 30)


def uninstall_host(host: SshHost, plan: InstallPlan, ssh: SshOptions) -> HostResult:
    result = HostResult(host.name)
    prefix = shlex.quote(plan.prefix_for(host))
    began = time.monotonic()
    try:
        with RemoteHost(host, ssh) as remote:
            remote.run("stop", STOP_COMMAND.format(unit=UNIT, prefix=prefix) + f"; rm -rf {prefix}", 60)
        result.ok, result.step = True, "removed"
    except RemoteError as exc:
        result.step, result.message = exc.step, str(exc)
    result.seconds = time.monotonic() - began
    return result


def install_all(hosts: list[SshHost], plan: InstallPlan, ssh: SshOptions, work: Path,
                wait_live: Callable[[str], bool], progress: Callable[[str, str], None],
                parallel: int = 4) -> list[HostResult]:
    bundle, digest = build_bundle(work, lambda line: progress("-", line))
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(install_host, host, plan, ssh, bundle, digest, wait_live, progress) for host in hosts]
        return [future.result() for future in futures]
