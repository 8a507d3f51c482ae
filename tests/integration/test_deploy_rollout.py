"""Rolling deploys to real sshd hosts, with the CMDB on a real ZooKeeper.

Each test deploys its own service (own deploy roots and app ports), so tests do not depend on
each other's state. The deployed thing is the sample release: an HTTP app that reports its
version on /health.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import threading
import uuid
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from backing_services.ports import free_port
from backing_services.process import reap_stale
from backing_services.sshd import SshHosts
from deployer import service as deploy_service
from deployer.registry import DeployLocked, Registry
from deployer.rollout import EXIT_OK, EXIT_ROLLED_BACK, ProgressEvent
from oam.cli import cli
from order_service.sample_release import sample_config, write_sample_release
from remote import SshOptions

_names = itertools.count(1)


CMDB_USER, CMDB_PASSWORD = "deployer", "deployer-secret"


@pytest.fixture
def registry(zookeeper):
    root = f"/oam-test-deploy-{uuid.uuid4().hex[:10]}/cmdb"  # a CMDB of its own: its first writer is admin
    with Registry.connect(zookeeper.connection_string, user=CMDB_USER, password=CMDB_PASSWORD, root=root) as reg:
        yield reg


class Service:
    """One test service on the three SSH hosts, with helpers to deploy it and look at the hosts."""

    def __init__(self, hosts: SshHosts, registry: Registry, zookeeper, work: Path, keep: int = 3) -> None:
        self.name = f"svc{next(_names)}-{os.getpid()}"
        self.hosts = hosts
        self.registry = registry
        self.zookeeper = zookeeper
        self.work = work
        self.events = work / "events.jsonl"
        self.host_entries = [
            {"name": f"host{i + 1}", "address": server.address, "port": server.port,
             "deploy_root": str(server.root / self.name),
             "env": {"APP_PORT": str(free_port(server.address)), "APP_ADDRESS": server.address}}
            for i, server in enumerate(hosts)
        ]
        registry.save_service_config(self.name, sample_config(self.host_entries, keep_releases=keep, health_retries=10,
                                                              health_interval=0.2))

    def root(self, index: int) -> Path:
        return Path(self.host_entries[index]["deploy_root"])

    def source(self, version: str) -> Path:
        return write_sample_release(self.work / "src" / version, version)

    def options(self, **overrides) -> deploy_service.RunOptions:
        ssh = SshOptions(known_hosts=self.hosts.known_hosts, identity=self.hosts.client_key, connect_timeout=5)
        return deploy_service.RunOptions(**{"user": "tester", "ssh": ssh, "batch_size": 1,
                                            "events_file": self.events, **overrides})

    def deploy_all_at_once(self, *versions: str) -> None:
        for version in versions:
            assert self.deploy(version, batch_size=3)[0].result == "succeeded"

    def deploy(self, version: str, **overrides):
        return deploy_service.deploy(self.registry, self.name, version, self.options(**overrides),
                                     source=self.source(version))

    def oam(self, *args: str, known_hosts: Path | None = None):
        argv = ["--data-dir", str(self.work / "data"), args[0], *args[1:],
                "--zk", self.zookeeper.connection_string, "--cmdb-user", CMDB_USER, "--cmdb-password", CMDB_PASSWORD,
                "--cmdb-root", self.registry.cmdb.layout.root]
        if args[0] != "deploy-config":
            argv += ["--known-hosts", str(known_hosts or self.hosts.known_hosts),
                     "--identity", str(self.hosts.client_key)]
        if args[0] in ("deploy", "rollback"):
            argv += ["--events-file", str(self.events), "--who", "tester"]
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    def current(self, index: int) -> str | None:
        link = self.root(index) / "current"
        return os.readlink(link) if link.is_symlink() else None

    def health(self, index: int) -> dict:
        entry = self.host_entries[index]
        return requests.get(f"http://{entry['address']}:{entry['env']['APP_PORT']}/health", timeout=2).json()

    def kept(self, index: int) -> list[str]:
        return sorted(p.name for p in (self.root(index) / "releases").iterdir())

    def stop_apps(self) -> None:
        for index in range(len(self.host_entries)):
            reap_stale(self.root(index) / "shared" / "app.pid")


@pytest.fixture
def make_service(ssh_hosts, registry, zookeeper, tmp_path):
    made: list[Service] = []

    def make(keep: int = 3) -> Service:
        made.append(Service(ssh_hosts, registry, zookeeper, tmp_path / f"s{len(made)}", keep))
        return made[-1]

    yield make
    for svc in made:
        svc.stop_apps()


def test_v1_then_v2_to_three_hosts(make_service):
    svc = make_service()
    first = svc.oam("deploy", svc.name, "v1", "--source", str(svc.source("v1")), "--batch", "2")
    assert first.exit_code == EXIT_OK, first.output
    second = svc.oam("deploy", svc.name, "v2", "--source", str(svc.source("v2")), "--batch", "2")
    assert second.exit_code == EXIT_OK, second.output
    assert "every host is on v2" in second.output
    for i in range(3):
        assert svc.current(i) == "releases/v2"
        assert svc.health(i) == {"status": "ok", "version": "v2"}
        release = svc.root(i) / "releases" / "v2"
        assert os.readlink(release / "logs") == str(svc.root(i) / "shared" / "logs")
        assert (svc.root(i) / "shared" / "logs" / "app.log").exists()
        marker = json.loads((release / ".oam-release").read_text())
        assert marker["version"] == "v2" and len(marker["sha256"]) == 64
    latest = svc.registry.list_deployments(svc.name)[0]
    assert (latest["version"], latest["result"], latest["rolled_back"]) == ("v2", "succeeded", False)
    assert latest["batches"] == [["host1", "host2"], ["host3"]]
    assert {h["host"]: (h["previous"], h["status"]) for h in latest["hosts"]} == {
        f"host{i}": ("v1", "deployed") for i in (1, 2, 3)}
    events = [json.loads(line) for line in svc.events.read_text().splitlines()]
    assert [(e["event"]["category"], e["event"]["action"], e["service"]["version"]) for e in events] == [
        ("configuration", "deployment-finished", "v1"), ("configuration", "deployment-finished", "v2")]
    assert {e["event"]["type"] for e in events} == {"change"}
    assert events[-1]["user"]["name"] == "tester" and events[-1]["event"]["outcome"] == "success"


def test_health_failure_in_second_batch_rolls_everything_back(make_service):
    svc = make_service()
    svc.deploy_all_at_once("v1", "v2")
    (svc.root(1) / "shared" / "data" / "fail-health-v3").touch()  # v3 is unhealthy on host2 only
    result = svc.oam("deploy", svc.name, "v3", "--source", str(svc.source("v3")), "--batch", "1")
    assert result.exit_code == EXIT_ROLLED_BACK, result.output
    assert "FAILED; every switched host is back" in result.output
    for i in range(3):
        assert svc.current(i) == "releases/v2"
        assert svc.health(i) == {"status": "ok", "version": "v2"}
        assert "v3" not in svc.kept(i)
    record = svc.registry.list_deployments(svc.name)[0]
    assert (record["version"], record["result"], record["rolled_back"]) == ("v3", "rolled_back", True)
    hosts = {h["host"]: h for h in record["hosts"]}
    assert hosts["host1"]["status"] == "rolled back" and hosts["host1"]["error"] == ""
    assert hosts["host2"]["status"] == "rolled back" and hosts["host2"]["step"] == "health"
    assert "503" in hosts["host2"]["error"]
    assert hosts["host3"]["status"] == "skipped"


def test_host_killed_mid_rollout(make_service, ssh_hosts):
    svc = make_service()
    svc.deploy_all_at_once("v1", "v2")
    victim = ssh_hosts[2]

    def kill_host3_once_host1_is_healthy(event: ProgressEvent) -> None:
        if (event.host, event.step, event.status) == ("host1", "health", "ok"):
            victim.stop()
            reap_stale(svc.root(2) / "shared" / "app.pid")

    try:
        outcome, record = svc.deploy("v3", progress=kill_host3_once_host1_is_healthy)
    finally:
        victim.start()
    assert outcome.exit_code == EXIT_ROLLED_BACK
    hosts = {h["host"]: h for h in record["hosts"]}
    assert hosts["host3"]["status"] == "unreachable"
    assert "cannot reach" in hosts["host3"]["error"]
    for name in ("host1", "host2"):
        assert hosts[name]["status"] == "rolled back"
    for i in (0, 1):
        assert svc.current(i) == "releases/v2"
        assert svc.health(i)["version"] == "v2"
    assert svc.current(2) == "releases/v2"  # never switched


def test_concurrent_deploy_of_one_service_is_refused(make_service, registry):
    svc = make_service()
    with registry.lock(svc.name, owner="alice"):
        result = svc.oam("deploy", svc.name, "v1", "--source", str(svc.source("v1")))
        assert result.exit_code == 1
        assert re.search(rf"{svc.name} is locked: a deploy by alice on \S+ \(pid {os.getpid()}\) "
                         r"has run since 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d", result.output), result.output
        with pytest.raises(DeployLocked):
            svc.deploy("v1")
    assert not svc.root(0).joinpath("current").exists()  # nothing was touched
    assert svc.deploy("v1")[0].result == "succeeded"  # the lock is free again


def test_two_services_deploy_at_the_same_time(make_service):
    first, second = make_service(), make_service()
    both_switching = threading.Barrier(2, timeout=60)
    outcomes = {}

    def meet_the_other(event: ProgressEvent) -> None:
        if (event.host, event.step, event.status) == ("host1", "switch", "ok"):
            both_switching.wait()  # each deploy holds its own lock while it waits for the other

    def run(svc: Service) -> None:
        outcomes[svc.name] = svc.deploy("v1", progress=meet_the_other, batch_size=3)[0]

    threads = [threading.Thread(target=run, args=(svc,)) for svc in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not both_switching.broken
    assert {name: o.result for name, o in outcomes.items()} == {first.name: "succeeded", second.name: "succeeded"}
    assert first.health(0)["version"] == second.health(0)["version"] == "v1"


def test_rollback_command_and_releases(make_service):
    svc = make_service()
    svc.deploy_all_at_once("v1", "v2")
    unknown = svc.oam("rollback", svc.name, "--to", "v9")
    assert unknown.exit_code == 1
    assert "known versions: v1, v2" in unknown.output
    assert all(svc.current(i) == "releases/v2" for i in range(3))
    back = svc.oam("rollback", svc.name, "--to", "v1", "-o", "json")
    assert back.exit_code == EXIT_OK, back.output
    for i in range(3):
        assert svc.current(i) == "releases/v1"
        assert svc.health(i)["version"] == "v1"
    record = svc.registry.list_deployments(svc.name)[0]
    assert (record["action"], record["version"], record["result"]) == ("rollback", "v1", "succeeded")
    assert {h["previous"] for h in record["hosts"]} == {"v2"}
    printed = json.loads(back.stdout)  # -o json: the deployment record, as stored
    assert printed["id"] == record["id"] and printed["hosts"] == record["hosts"]
    assert (printed["action"], printed["version"], printed["result"], printed["user"]) == (
        "rollback", "v1", "succeeded", "tester")
    listing = svc.oam("releases", svc.name, "--history", "5")
    assert listing.exit_code == 0, listing.output
    rows = [line.split() for line in listing.output.splitlines() if line.startswith("host")]
    assert [row[2] for row in rows if row[3] == "*"] == ["v1", "v1", "v1"]
    assert "rollback v1 by tester: succeeded" in listing.output
    as_json = svc.oam("releases", svc.name, "--history", "5", "-o", "json")
    assert as_json.exit_code == 0, as_json.output
    listed = json.loads(as_json.stdout)
    assert [(h["host"], h["current"], h["error"]) for h in listed["hosts"]] == [
        (f"host{i}", "v1", None) for i in (1, 2, 3)]
    assert {tuple(r["version"] for r in h["releases"]) for h in listed["hosts"]} == {("v2", "v1")}
    assert [(d["action"], d["version"]) for d in listed["deployments"]][0] == ("rollback", "v1")
    events = [json.loads(line) for line in svc.events.read_text().splitlines()]
    assert events[-1]["event"]["action"] == "rollback-finished" and events[-1]["service"]["version"] == "v1"


def test_old_releases_beyond_keep_are_removed(make_service):
    svc = make_service(keep=2)
    svc.deploy_all_at_once("v1", "v2", "v3")
    for i in range(3):
        assert svc.kept(i) == ["v2", "v3"]
    previous = svc.oam("rollback", svc.name)  # to the release before the current one
    assert previous.exit_code == EXIT_OK, previous.output
    assert all(svc.current(i) == "releases/v2" for i in range(3))


def test_unknown_host_key_is_refused_unless_trusted(make_service, ssh_hosts, tmp_path):
    svc = make_service()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = svc.oam("releases", svc.name, known_hosts=empty)
    assert refused.exit_code == 1
    assert "unknown host key" in refused.output
    wrong = tmp_path / "wrong_known_hosts"  # host1's name with host2's key
    wrong.write_text(f"[{ssh_hosts[0].address}]:{ssh_hosts[0].port} {ssh_hosts[1].host_key_type_and_data}\n")
    changed = svc.oam("releases", svc.name, known_hosts=wrong)
    assert changed.exit_code == 1 and "CHANGED" in changed.output
    trusted = svc.oam("deploy", svc.name, "v1", "--source", str(svc.source("v1")), "--trust-new-host-keys",
                      known_hosts=empty)
    assert trusted.exit_code == EXIT_OK, trusted.output
    assert sorted(empty.read_text().splitlines()) == sorted(s.known_hosts_line() for s in ssh_hosts)
    again = svc.oam("releases", svc.name, known_hosts=empty)  # now known: no flag needed
    assert again.exit_code == 0, again.output


def test_host_lost_after_switching_is_reported_as_not_rolled_back(make_service, ssh_hosts):
    svc = make_service()
    svc.deploy_all_at_once("v1")
    victim = ssh_hosts[1]

    def kill_host2_right_after_its_switch(event: ProgressEvent) -> None:
        if (event.host, event.step, event.status) == ("host2", "restart", "ok"):
            victim.stop()
            reap_stale(svc.root(1) / "shared" / "app.pid")

    try:
        outcome, record = svc.deploy("v2", progress=kill_host2_right_after_its_switch)
    finally:
        victim.start()
    assert (outcome.result, outcome.exit_code) == ("rollback_incomplete", 3)
    hosts = {h["host"]: h for h in record["hosts"]}
    assert hosts["host1"]["status"] == "rolled back" and svc.health(0)["version"] == "v1"
    assert hosts["host2"]["status"] == "rollback failed" and hosts["host2"]["step"] == "health"
    assert "cannot reach" in hosts["host2"]["rollback_error"]
    assert hosts["host3"]["status"] == "skipped"
    assert svc.current(1) == "releases/v2"  # what is really on the host: it could not be put back


def test_canary_and_dry_run(make_service):
    svc = make_service()
    dry = svc.oam("deploy", svc.name, "v1", "--source", str(svc.source("v1")), "--canary", "1", "--batch", "2",
                  "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "batch 1: host1\nbatch 2: host2, host3" in dry.output
    dry_json = svc.oam("deploy", svc.name, "v1", "--source", str(svc.source("v1")), "--canary", "1", "--batch", "2",
                       "--dry-run", "-o", "json")
    assert dry_json.exit_code == 0, dry_json.output
    plan = json.loads(dry_json.stdout)
    assert plan["batches"] == [["host1"], ["host2", "host3"]] and plan["artifact"]["version"] == "v1"
    assert len(plan["artifact"]["sha256"]) == 64
    assert [(h["host"], h["current"], h["releases"]) for h in plan["hosts"]] == [
        (f"host{i}", None, []) for i in (1, 2, 3)]
    assert not svc.root(0).exists() and svc.registry.list_deployments(svc.name) == []  # nothing was changed
    real = svc.oam("deploy", svc.name, "v1", "--source", str(svc.source("v1")), "--canary", "1", "--batch", "2")
    assert real.exit_code == EXIT_OK, real.output
    assert svc.registry.list_deployments(svc.name)[0]["batches"] == [["host1"], ["host2", "host3"]]


def test_deploy_configuration_lives_in_the_cmdb(make_service, tmp_path):
    svc = make_service()
    stored = svc.registry.cmdb.store.get(f"production/{svc.name}/deploy")
    assert stored.value["restart"] == "./bin/restart"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**stored.value, "keep_releases": 1}))
    refused = svc.oam("deploy-config", svc.name, str(bad))
    assert refused.exit_code == 1
    assert refused.output.strip() == \
        "Error: bad.json: keep_releases: expected an integer greater than or equal to 2, got 1"
    for change, line in [({"keep_releases": "x"}, 'keep_releases: expected an integer, got "x"'),
                         ({"colour": "blue"}, "colour: unknown key (known: analysis, command_timeout, deploy_root, "
                                              "health, hosts, keep_releases, post_hooks, pre_hooks, restart, "
                                              "shared_dirs, source, verify)"),
                         ({"analysis": {"checks": {"latency": {"alpha": 2}}}},
                          "[analysis.checks.latency] alpha: expected a number less than 1, got 2")]:
        bad.write_text(json.dumps({**stored.value, **change}))
        refused = svc.oam("deploy-config", svc.name, str(bad))
        assert refused.exit_code == 1 and refused.output.strip() == f"Error: bad.json: {line}"
    assert svc.registry.cmdb.store.version(f"production/{svc.name}/deploy") == stored.version
    svc.registry.cmdb.store.set(f"production/{svc.name}/deploy", {**stored.value, "keep_releases": "x"})
    broken = svc.oam("releases", svc.name)  # a value stored behind the command's back is refused on use
    assert broken.exit_code == 1
    assert f'Error: production/{svc.name}/deploy: keep_releases: expected an integer, got "x"' in broken.output
    svc.registry.cmdb.store.set(f"production/{svc.name}/deploy", stored.value)
    stored = svc.registry.cmdb.store.get(f"production/{svc.name}/deploy")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**stored.value, "keep_releases": 4}))
    accepted = svc.oam("deploy-config", svc.name, str(good), "-m", "keep more")
    assert accepted.exit_code == 0, accepted.output
    assert f"stored production/{svc.name}/deploy version {stored.version + 1}" in accepted.output
    again = svc.oam("deploy-config", svc.name, str(good), "-o", "json")
    assert json.loads(again.stdout) == {"key": f"production/{svc.name}/deploy", "version": stored.version + 2}
    assert svc.registry.load_service_config(svc.name)["keep_releases"] == 4
    missing = svc.oam("releases", "no-such-service")
    assert missing.exit_code == 1 and "no deploy configuration for 'no-such-service'" in missing.output
    anonymous = CliRunner().invoke(cli, ["releases", svc.name, "--zk", svc.zookeeper.connection_string,
                                         "--cmdb-root", svc.registry.cmdb.layout.root], catch_exceptions=False,
                                   env={"OAM_CMDB_USER": "", "OAM_CMDB_PASSWORD": ""})
    assert anonymous.exit_code == 1 and "permission denied" in anonymous.output


def test_failing_pre_hook_stops_before_any_switch(make_service):
    svc = make_service()
    svc.deploy_all_at_once("v1")
    config = svc.registry.load_service_config(svc.name)
    svc.registry.save_service_config(svc.name, {**config, "pre_hooks": [
        "test -f VERSION", "echo 'migration failed: table locked' >&2; exit 7"]})
    result = svc.oam("deploy", svc.name, "v2", "--source", str(svc.source("v2")), "--batch", "1")
    assert result.exit_code == EXIT_ROLLED_BACK, result.output
    assert "FAILED before any host was switched" in result.output
    record = svc.registry.list_deployments(svc.name)[0]
    assert (record["result"], record["rolled_back"]) == ("failed", False)
    host1 = record["hosts"][0]
    assert (host1["status"], host1["step"]) == ("failed", "pre-hook")
    assert host1["error"] == "exit 7: migration failed: table locked"
    assert [h["status"] for h in record["hosts"][1:]] == ["skipped", "skipped"]
    for i in range(3):
        assert svc.current(i) == "releases/v1" and svc.kept(i) == ["v1"]
        assert svc.health(i)["version"] == "v1"
