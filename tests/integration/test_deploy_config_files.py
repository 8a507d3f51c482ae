"""Configuration rendered from the CMDB: real sshd hosts and ZooKeeper, the sample release's
``config/settings.json.j2`` (and one more template), as test_deploy_rollout.py sets them up."""
from __future__ import annotations

import json

import requests
from test_deploy_rollout import Service, make_service, registry  # noqa: F401 - the fixtures, reused

from deployer.rollout import EXIT_NOT_STARTED, EXIT_OK, EXIT_ROLLED_BACK


def settings(svc: Service, index: int, version: str = "v1") -> dict:
    return json.loads((svc.root(index) / "releases" / version / "config" / "settings.json").read_text())


def served(svc: Service, index: int) -> dict:
    entry = svc.host_entries[index]
    return requests.get(f"http://{entry['address']}:{entry['env']['APP_PORT']}/settings", timeout=2).json()


def test_config_only_rolls_values_out_and_back_when_health_fails(make_service):  # noqa: F811
    svc = make_service()
    svc.deploy_all_at_once("v1")
    assert [settings(svc, i)["order_delay_ms"] for i in range(3)] == [20, 20, 20]  # the template's defaults
    store, base = svc.registry.cmdb.store, f"production/{svc.name}"
    store.set(f"{base}/config/order_delay_ms", 5)
    store.set(f"{base}/config/greeting", "hello")
    store.set(f"{base}/config/greeting", "hi")
    store.set(f"{base}/hosts/host3/config/greeting", "hi from host3")

    dry = svc.oam("deploy", svc.name, "--config-only", "--dry-run")
    assert dry.exit_code == EXIT_OK, dry.output
    assert f"host1: config/settings.json from {base}/config/greeting@2, {base}/config/order_delay_ms@1" in dry.output
    diff = dry.output[dry.output.index("--- host1:config/settings.json\n+++ host1:config/settings.json (rendered)"):]
    for line in ('-  "order_delay_ms": 20', '+  "order_delay_ms": 5', '+  "greeting": "hi",',
                 '+  "greeting": "hi from host3",'):
        assert f"\n{line}\n" in diff
    assert settings(svc, 0)["order_delay_ms"] == 20  # a dry run changes nothing

    pushed = svc.oam("deploy", svc.name, "--config-only", "--batch", "2")
    assert pushed.exit_code == EXIT_OK, pushed.output
    for i in range(3):
        greeting = "hi from host3" if i == 2 else "hi"
        expected = {"environment": "production", "host": f"host{i + 1}", "greeting": greeting, "order_delay_ms": 5}
        assert settings(svc, i) == expected and served(svc, i) == expected  # written, and the app restarted on it
        assert svc.current(i) == "releases/v1" and svc.kept(i) == ["v1"]
    record = svc.registry.list_deployments(svc.name)[0]
    assert (record["action"], record["version"], record["result"]) == ("config", "v1", "succeeded")
    keys = {h["host"]: h["config_keys"] for h in record["hosts"]}
    assert keys["host1"] == {f"{base}/config/greeting": 2, f"{base}/config/order_delay_ms": 1}
    assert keys["host3"] == {f"{base}/hosts/host3/config/greeting": 1, f"{base}/config/order_delay_ms": 1}
    event = json.loads(svc.events.read_text().splitlines()[-1])
    assert event["event"]["action"] == "config-finished" and event["labels"]["deployment_id"] == record["id"]

    store.set(f"{base}/config/order_delay_ms", "slow")  # the app refuses it: its health check fails
    bad = svc.oam("deploy", svc.name, "--config-only", "--batch", "1")
    assert bad.exit_code == EXIT_ROLLED_BACK, bad.output
    record = svc.registry.list_deployments(svc.name)[0]
    hosts = {h["host"]: h for h in record["hosts"]}
    assert (hosts["host1"]["status"], hosts["host1"]["step"]) == ("rolled back", "health")
    assert hosts["host1"]["error"].endswith("/health answered 503")  # the app refused order_delay_ms "slow"
    assert [hosts[h]["status"] for h in ("host2", "host3")] == ["skipped", "skipped"]
    for i in range(3):
        assert settings(svc, i)["order_delay_ms"] == 5 and served(svc, i)["order_delay_ms"] == 5
        assert svc.health(i) == {"status": "ok", "version": "v1"}
    kept = svc.root(0) / "releases" / "v1" / ".oam-config-previous" / "settings.json"
    assert json.loads(kept.read_text())["order_delay_ms"] == 5  # the files it replaced are kept


def test_missing_key_changes_no_host_and_names_the_key(make_service):  # noqa: F811
    svc = make_service()
    svc.deploy_all_at_once("v1")
    records = len(svc.registry.list_deployments(svc.name))
    source = svc.source("v2")
    (source / "config" / "database.conf.j2").write_text("url = {{ db_url }}\n")
    missing = svc.oam("deploy", svc.name, "v2", "--source", str(source))
    assert missing.exit_code == EXIT_NOT_STARTED
    key = f"production/{svc.name}/config/db_url"
    assert missing.output.strip() == (f"Error: config/database.conf.j2: CMDB key {key} is missing (and host host1 has "
                                      f"no override production/{svc.name}/hosts/host1/config/db_url)")
    for i in range(3):
        assert svc.current(i) == "releases/v1" and svc.kept(i) == ["v1"]
        assert svc.health(i)["version"] == "v1"
    assert len(svc.registry.list_deployments(svc.name)) == records

    svc.registry.cmdb.store.set(key, "postgres://db1/orders")
    deployed = svc.oam("deploy", svc.name, "v2", "--source", str(source), "--batch", "3")
    assert deployed.exit_code == EXIT_OK, deployed.output
    for i in range(3):
        assert (svc.root(i) / "current" / "config" / "database.conf").read_text() == "url = postgres://db1/orders\n"
    record = svc.registry.list_deployments(svc.name)[0]
    assert {h["host"]: h["config_keys"] for h in record["hosts"]} == {f"host{i}": {key: 1} for i in (1, 2, 3)}
