"""Wall time of a rolling deploy to 1, 3 and 10 real sshd hosts, and of a rollback.

Starts a ZooKeeper (the CMDB) and ten ``sshd`` hosts on 127.0.0.2-11, deploys the sample release
(v1 first, so every host has something to go back to), then times the deploy of the next version
to 1, 3 and 10 hosts in two parallel batches each, and the rollback of the 10 hosts. The reference
is the 1-host deploy measured in the same run; the target is 10 hosts <= 3x one host. Beside it,
the floor of this machine: connecting and running two empty commands on 1, 3 and 10 hosts at once
(all hosts share its cores, so the host side's work does not run in parallel as on real servers). Sizes take
turns round by round, so load from elsewhere on the machine weighs on all of them alike.

Deploys and the bare-SSH floor log in as the same account, ``oam-deploy`` (scripts/setup creates it),
through the deployer's per-host ``user`` setting, as a deploy to real servers logs in as a deploy
account. sshd runs the account's shell start-up files for every command; ``oam-deploy`` has the
distribution's plain ones, while this machine's root account runs a language-version manager from
~/.bashrc (~0.1 CPU-second a command) that no deploy target would. ``--ssh-user root`` measures that.

    python bench/deploy.py [--repeat 5] [--batches 2] [--ssh-user oam-deploy]
"""
from __future__ import annotations

import argparse
import math
import os
import pwd
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backing_services.ports import free_port
from backing_services.process import reap_stale
from backing_services.sshd import SshHosts
from backing_services.zookeeper import ZooKeeperServer
from deployer import service
from deployer.registry import Registry
from foundation.output import table
from oam.benchmarks.results import Row, Target, script_arguments, write_results
from order_service.sample_release import sample_config, write_sample_release
from remote import RemoteHost, SshHost, SshOptions

SIZES = (1, 3, 10)
DEPLOY_ACCOUNT = "oam-deploy"


def default_account() -> str:
    """``oam-deploy`` if scripts/setup made it, else the account running the bench."""
    try:
        pwd.getpwnam(DEPLOY_ACCOUNT)
        return DEPLOY_ACCOUNT
    except KeyError:
        return pwd.getpwuid(os.getuid()).pw_name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Deploys timed per size (the median is shown).")
    parser.add_argument("--batches", type=int, default=2, help="Batches per rollout (hosts split evenly).")
    parser.add_argument("--ssh-user", default=default_account(),
                        help=f"Account to log in to the hosts as (default {DEPLOY_ACCOUNT} if it exists).")
    args = script_arguments(parser, quick={"repeat": 1})
    base = Path(tempfile.mkdtemp(prefix="oam-bench-deploy-"))
    os.chmod(base, 0o711)  # the deploy account reaches its hosts' directories through it
    hosts = SshHosts(base / "ssh", count=max(SIZES), user=args.ssh_user)
    zookeeper = ZooKeeperServer(base / "zookeeper", client_port=free_port(), namespace="/bench")
    services: list[tuple[str, list[Path]]] = []
    try:
        hosts.start()
        zookeeper.start()
        with Registry.connect(zookeeper.connection_string, user="bench", password="bench") as registry:
            results = run(registry, hosts, base, args, services)
    finally:
        for _, roots in services:
            for root in roots:
                reap_stale(root / "shared" / "app.pid")
        hosts.stop()
        zookeeper.stop()
        shutil.rmtree(base, ignore_errors=True)
    report(results, args)
    write_results(args, "deploy", figures(results))
    return 0


def run(registry: Registry, hosts: SshHosts, base: Path, args: argparse.Namespace,
        services: list[tuple[str, list[Path]]]) -> dict[str, float]:
    """Rounds of one deploy per size, interleaved, so load from elsewhere on the machine hits every size alike."""
    ssh = SshOptions(known_hosts=hosts.known_hosts, identity=hosts.client_key)
    versions = [f"v{i}" for i in range(1, args.repeat + 2)]
    sources = {v: write_sample_release(base / "src" / v, v) for v in versions}
    options: dict[int, service.RunOptions] = {}
    for size in SIZES:
        name = f"bench{size}"
        entries = [{"name": f"host{i + 1}", "address": s.address, "port": s.port, "deploy_root": str(s.root / name),
                    "user": args.ssh_user, "env": {"APP_PORT": str(free_port(s.address)), "APP_ADDRESS": s.address}}
                   for i, s in enumerate(hosts.servers[:size])]
        services.append((name, [Path(e["deploy_root"]) for e in entries]))
        registry.save_service_config(name, sample_config(entries, health_interval=0.1, health_retries=50,
                                                         keep_releases=args.repeat + 2))
        batch = math.ceil(size / args.batches)
        options[size] = service.RunOptions(user="bench", ssh=ssh, batch_size=batch, max_parallel=batch)
    timings: dict[int, list[float]] = {size: [] for size in SIZES}
    for number, version in enumerate(versions):  # the first round only gives every host a release to go back to
        for size in SIZES:
            begun = time.monotonic()
            outcome, _ = service.deploy(registry, f"bench{size}", version, options[size], source=sources[version])
            elapsed = time.monotonic() - begun
            if outcome.result != "succeeded":
                raise SystemExit(f"deploy of {version} to {size} host(s) failed: {outcome.result}")
            if number > 0:
                timings[size].append(elapsed)
            print(f"  {size:>2} host(s) {version}: {elapsed:.2f}s", file=sys.stderr)
    results = {f"deploy {size}": statistics.median(timings[size]) for size in SIZES}
    for size in SIZES:
        results[f"ssh {size}"] = statistics.median(bare_ssh(hosts, size, args.ssh_user) for _ in range(args.repeat))
    begun = time.monotonic()
    outcome, _ = service.rollback(registry, f"bench{max(SIZES)}", None, options[max(SIZES)])
    results["rollback"] = time.monotonic() - begun
    if outcome.result != "succeeded":
        raise SystemExit(f"rollback of {max(SIZES)} hosts failed: {outcome.result}")
    return results


def bare_ssh(hosts: SshHosts, size: int, user: str) -> float:
    """The floor for anything SSH-based here: connect and run two empty commands on ``size`` hosts at once."""
    ssh = SshOptions(known_hosts=hosts.known_hosts, identity=hosts.client_key)

    def one(server) -> None:
        with RemoteHost(SshHost(server.address, server.address, server.port, user), ssh) as remote:
            remote.run("bench", "true", 30)
            remote.run("bench", "true", 30)

    begun = time.monotonic()
    with ThreadPoolExecutor(max_workers=size) as pool:
        list(pool.map(one, hosts.servers[:size]))
    return time.monotonic() - begun


def figures(results: dict[str, float]) -> list[Row]:
    """The rows for ``oam bench``: each size against the 1-host deploy, and the machine's bare-SSH floor."""
    one, most = results["deploy 1"], max(SIZES)
    rows = [Row("deploy", "deploy to 1 host", one, "s", results["ssh 1"], "bare SSH, 1 host")]
    for size in SIZES[1:]:
        target = Target("ratio", "<=", 3, f"{most} hosts <= 3x one host") if size == most else None
        rows.append(Row("deploy", f"deploy to {size} hosts", results[f"deploy {size}"], "s", one, "1-host deploy",
                        target))
    rows.append(Row("deploy", f"bare SSH to {most} hosts", results[f"ssh {most}"], "s", results["ssh 1"],
                    "bare SSH, 1 host"))
    rows.append(Row("deploy", f"rollback of {most} hosts", results["rollback"], "s", one, "1-host deploy"))
    return rows


def report(results: dict[str, float], args: argparse.Namespace) -> None:
    reference = results["deploy 1"]
    print(f"rolling deploy of the sample release, {args.batches} batches, median of {args.repeat}, "
          f"logged in as {args.ssh_user}")
    rows = [[f"deploy to {size} host(s)", f"{results[f'deploy {size}']:.2f}s",
             f"{results[f'deploy {size}'] / reference:.2f}x", f"{results[f'ssh {size}']:.2f}s",
             f"{results[f'ssh {size}'] / results['ssh 1']:.2f}x"] for size in SIZES]
    rows.append([f"rollback of {max(SIZES)} hosts", f"{results['rollback']:.2f}s",
                 f"{results['rollback'] / reference:.2f}x", "", ""])
    print(table(rows, headers=["case", "wall time", "ratio to 1 host", "bare SSH (2 commands)", "its ratio"],
                align=["left", "right", "right", "right", "right"]))
    ratio = results[f"deploy {max(SIZES)}"] / reference
    print(f"target: {max(SIZES)} hosts <= 3x one host -> {ratio:.2f}x {'met' if ratio <= 3 else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
