"""The deployer's sandbox in ``oam up``: local SSH hosts, the order service's releases, its deploy config.

Each host is a real ``sshd`` on its own loopback address (127.0.0.2, .3, .4 by default) with a
directory standing for its file system under ``<data_dir>/sandbox``. Releases 1.0.0 and 2.0.0 of
the order service's backend are good; 3.0.0 is broken on purpose (its backend cannot start), to
watch the deployer roll it back on its health check; 4.0.0 starts and passes its health check but
fails 30% of order reads, to watch the verdict on its telemetry roll it back. The ``sandbox-reads``
component reads orders from the hosts' backends (those not running are skipped), and the host
agent ships their telemetry, so each batch has traffic to judge. The deploy configuration goes
into the CMDB under the ``development`` environment, so ``oam deploy order-service 2.0.0`` works
once ``oam env`` is loaded into the shell.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from backing_services.process import reap_stale
from backing_services.sshd import SshHosts, SshServer, generate_key, ssh_banner

from .component import Component, ServerComponent, ServiceStatus
from .config import Settings
from .programs import ProgramComponent

ENVIRONMENT = "development"
# version -> what is wrong with it on purpose: "broken" (cannot start) or the share of order reads it fails
RELEASES: dict[str, dict[str, Any]] = {"1.0.0": {}, "2.0.0": {}, "3.0.0": {"broken": True},
                                       "4.0.0": {"fail_reads": 0.3}}
READ_RATE = 15.0  # order reads a second, over all the sandbox's backends


def sandbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "sandbox"


def sandbox_hosts(settings: Settings) -> SshHosts:
    sandbox = settings.sandbox
    return SshHosts(sandbox_dir(settings) / "hosts", sandbox.hosts, sandbox.first_address, port=sandbox.ssh_port)


def releases_dir(settings: Settings) -> Path:
    return sandbox_dir(settings) / "releases"


class SshHostComponent(ServerComponent):
    """One sandbox host: its sshd, and the backend a deploy started there (stopped with it)."""

    def __init__(self, settings: Settings, hosts: SshHosts, index: int) -> None:
        self.hosts = hosts
        self.server: SshServer = hosts[index]
        self.name = f"ssh-host-{index + 1}"
        self.port = self.server.port
        self.app_pid_file = self.server.root / settings.sandbox.service / "shared" / "app.pid"

    def start(self, timeout: float) -> None:
        generate_key(self.hosts.client_key, comment="oam-sandbox")
        self.server.start(timeout=timeout)
        self.hosts.write_known_hosts(s for s in self.hosts if s.host_key.with_suffix(".pub").exists())

    def stop(self) -> None:
        reap_stale(self.app_pid_file)
        self.server.stop()

    def reap(self) -> bool:
        app = reap_stale(self.app_pid_file)
        return super().reap() or app

    def probe(self) -> ServiceStatus:
        banner = ssh_banner(self.server.address, self.port)
        return ServiceStatus(self.name, f"ssh://{self.server.address}:{self.port}", banner.startswith("SSH-2.0"),
                             banner or "not answering")


def backend_urls(settings: Settings) -> list[str]:
    return [f"http://{server.address}:{settings.sandbox.app_port}" for server in sandbox_hosts(settings)]


def telemetry_paths(settings: Settings) -> list[str]:
    """The files the deployed backends write their telemetry to (for the host agent to ship)."""
    return [str(server.root / settings.sandbox.service / "shared" / "logs" / "*.jsonl")
            for server in sandbox_hosts(settings)]


def components(settings: Settings) -> list[Component]:
    """The SSH hosts, then the reads of orders from the backends deployed on them."""
    hosts = sandbox_hosts(settings)
    reads = [arg for url in backend_urls(settings) for arg in ("--url", url)]
    return [*(SshHostComponent(settings, hosts, index) for index in range(len(hosts))),
            ProgramComponent("sandbox-reads", ["sample", "reads", *reads, "--rate", f"{READ_RATE:g}"],
                             sandbox_dir(settings), settings.host)]


def deploy_config(settings: Settings) -> dict[str, Any]:
    """The order service's deploy configuration for the sandbox hosts."""
    sandbox = settings.sandbox
    hosts = [{"name": f"web{i + 1}", "address": server.address, "port": server.port, "roles": ["web"],
              "deploy_root": str(server.root / sandbox.service),
              "env": {"APP_ADDRESS": server.address, "APP_PORT": str(sandbox.app_port)}}
             for i, server in enumerate(sandbox_hosts(settings))]
    return {
        "hosts": hosts,
        "source": str(releases_dir(settings) / "{version}"),
        "restart": "./bin/restart",
        "shared_dirs": ["logs", "data"],
        "health": {"url": "http://{address}:{APP_PORT}/health", "timeout": 2.0, "retries": 40, "interval": 0.25,
                   "expect_version": True},
        "keep_releases": 5,
        "command_timeout": 60,
        # Each batch is judged on the backends' telemetry (the sandbox-reads load, shipped by the host
        # agent): a short bake, and enough requests at 15 reads/s over three hosts. The first deploy has
        # no baseline (nothing runs yet): inconclusive, so it passes. Failed reads decide; latency is
        # not judged here: reads answer in a millisecond or two, where a backend just started is
        # measurably slower than one that has run a while, whatever its release.
        "analysis": {"bake_seconds": 10, "settle_seconds": 5, "service": "backend", "on_inconclusive": "pass",
                     "checks": {"error_rate": {"min_requests": 20}, "latency": {"enabled": False}}},
    }


def prepare(settings: Settings, credentials: dict[str, str]) -> str:
    """Write the releases and store the deploy configuration (a new version only if it changed)."""
    from deployer.registry import Registry, RegistryError
    from order_service.release import write_release

    redis_url = f"redis://{settings.host}:{settings.ports.redis}/0"
    for version, behaviour in RELEASES.items():
        write_release(releases_dir(settings) / version, version, python=sys.executable, redis_url=redis_url,
                      environment=ENVIRONMENT, **behaviour)
    wanted = deploy_config(settings)
    service = settings.sandbox.service
    with Registry.connect(f"{settings.host}:{settings.zookeeper.port}", user=credentials["OAM_CMDB_USER"],
                          password=credentials["OAM_CMDB_PASSWORD"], root=settings.cmdb.root,
                          environment=ENVIRONMENT) as registry:
        try:
            current = registry.load_service_config(service)
        except RegistryError:
            current = None
        if current != wanted:
            registry.save_service_config(service, wanted, comment="sandbox hosts of oam up")
    return (f"deploy sandbox: {len(wanted['hosts'])} SSH hosts for {service} "
            f"(releases {', '.join(RELEASES)}; 3.0.0 is broken on purpose, 4.0.0 fails 30% of order reads)")


def shell_environment(settings: Settings, credentials: dict[str, str]) -> dict[str, str]:
    """What ``oam env`` exports: the CMDB account, the environment and the sandbox's SSH key."""
    hosts = sandbox_hosts(settings)
    return {"OAM_CMDB_ZK": f"{settings.host}:{settings.zookeeper.port}", **credentials,
            "OAM_ENVIRONMENT": ENVIRONMENT, "OAM_KNOWN_HOSTS": str(hosts.known_hosts),
            "OAM_SSH_KEY": str(hosts.client_key)}
