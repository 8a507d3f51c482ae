"""The deploy configuration as stored in the CMDB: parsed, checked, and host selection."""
from __future__ import annotations

import pytest

from deployer.config import ConfigInvalid, check_name, parse_config


def stored(**overrides):
    data = {
        "deploy_root": "/srv/{service}",
        "hosts": [
            {"name": "web1", "address": "10.0.0.1", "roles": ["web"], "env": {"APP_PORT": "8000"}},
            {"name": "web2", "address": "10.0.0.2", "roles": ["web"], "env": {"APP_PORT": 8001}},
            {"name": "job1", "address": "10.0.0.3", "roles": ["worker"], "env": {"APP_PORT": "9000"},
             "deploy_root": "/opt/{name}", "port": 2222, "user": "deploy"},
        ],
        "restart": "./bin/restart",
        "health": {"url": "http://{address}:{APP_PORT}/health", "retries": 3},
    }
    data.update(overrides)
    return data


def test_parses_hosts_defaults_and_templates():
    config = parse_config("shop", stored())
    web1, web2, job1 = config.hosts
    assert (web1.deploy_root, web1.port, web1.user) == ("/srv/shop", 22, "root")
    assert (job1.deploy_root, job1.port, job1.user) == ("/opt/job1", 2222, "deploy")
    assert web2.env == {"APP_PORT": "8001"}
    assert config.health_url(job1) == "http://10.0.0.3:9000/health"
    assert (config.health.retries, config.health.timeout, config.health.expect_version) == (3, 5.0, True)
    assert config.shared_dirs == ("logs", "data") and config.keep_releases == 5


def test_selects_hosts_by_name_or_role():
    config = parse_config("shop", stored())
    assert [h.name for h in config.select()] == ["web1", "web2", "job1"]
    assert [h.name for h in config.select(["job1", "web1"])] == ["web1", "job1"]
    assert [h.name for h in config.select(role="worker")] == ["job1"]
    with pytest.raises(ConfigInvalid, match="unknown host.*nope.*known: web1, web2, job1"):
        config.select(["nope"])
    with pytest.raises(ConfigInvalid, match="no host of shop has role 'db' .roles: web, worker."):
        config.select(role="db")


@pytest.mark.parametrize("change, message", [
    ({"hosts": []}, "hosts: expected a non-empty list of hosts, got []"),
    ({"restart": 5}, "restart: expected a string, got 5"),
    ({"health": {"url": "ftp://x"}}, '[health] url: expected a URL, got "ftp://x"'),
    ({"health": {"url": "http://{address}:{NOPE}/"}},
     "[health] url: expected a URL naming fields every host defines ('NOPE' is not defined by host web1)"),
    ({"health": {"url": "http://x/", "retries": 0}},
     "[health] retries: expected an integer greater than or equal to 1, got 0"),
    ({"health": {"url": "http://x/", "timeout": True}}, "[health] timeout: expected a number, got true"),
    ({"keep_releases": 1}, "keep_releases: expected an integer greater than or equal to 2, got 1"),
    ({"shared_dirs": ["../etc"]},
     'shared_dirs[0]: expected a name of letters, digits and . _ + - (at most 100), got "../etc"'),
    ({"deploy_root": "relative/path"},
     '[hosts[0]] deploy_root: expected an absolute path other than /, got "relative/path"'),
    ({"deploy_root": "/"}, '[hosts[0]] deploy_root: expected an absolute path other than /, got "/"'),
    ({"hosts": [{"address": "10.0.0.1", "env": {"APP PORT": "1"}}]},
     '[hosts[0].env] APP PORT: expected a shell variable name, got "APP PORT"'),
    ({"hosts": [{"address": "10.0.0.1", "port": "22"}]}, '[hosts[0]] port: expected an integer, got "22"'),
    ({"colour": "blue"}, "colour: unknown key (known: analysis, command_timeout, deploy_root, health, hosts, "
                         "keep_releases, post_hooks, pre_hooks, restart, shared_dirs, source, verify)"),
    ({"analysis": {"checks": {"throughput": {}}}},
     "[analysis.checks] throughput: unknown key (known: error_rate, latency, new_errors)"),
    ({"analysis": {"checks": {"error_rate": {"alpha": 0}}}},
     "[analysis.checks.error_rate] alpha: expected a number greater than 0, got 0"),
    ({"analysis": {"checks": {"error_rate": {"max_difference": 1.5}}}},
     "[analysis.checks.error_rate] max_difference: expected a number less than or equal to 1, got 1.5"),
    ({"analysis": {"checks": {"latency": {"min_requests": 0}}}},
     "[analysis.checks.latency] min_requests: expected an integer greater than or equal to 1, got 0"),
    ({"analysis": {"on_inconclusive": "maybe"}},
     '[analysis] on_inconclusive: expected one of "fail", "pass", got "maybe"'),
    ({"analysis": {"bake_seconds": -1}}, "[analysis] bake_seconds: expected a number greater than or equal to 0, got -1"),
    ({"verify": ["pytest --base-url {url} --user {WHO}"]},
     "verify[0]: expected a command naming fields every host defines ('WHO' is not defined by host web1)"),
])
def test_bad_configuration_is_named_in_one_line(change, message):
    with pytest.raises(ConfigInvalid) as refused:
        parse_config("shop", stored(**change))
    assert str(refused.value) == f"shop: {message}"


def test_analysis_defaults_and_verify_commands():
    config = parse_config("shop", stored(verify=["pytest tests/api --base-url {url} --host {name}"]))
    assert (config.analysis.bake_seconds, config.analysis.on_inconclusive, config.analysis.enabled) == (60, "fail", True)
    assert config.verify_commands(config.hosts[2]) == ["pytest tests/api --base-url http://10.0.0.3:9000 --host job1"]
    off = parse_config("shop", stored(analysis={"bake_seconds": 0, "checks": {"latency": {"enabled": False}}}))
    assert not off.analysis.enabled and not off.analysis.checks.latency.enabled


def test_missing_restart_and_repeated_names():
    data = stored()
    del data["restart"]
    with pytest.raises(ConfigInvalid, match="^shop: restart: expected a string, got nothing$"):
        parse_config("shop", data)
    data = stored()
    data["hosts"][1]["name"] = "web1"
    with pytest.raises(ConfigInvalid, match=r"^shop: hosts: expected host names that do not repeat \(web1 does\)$"):
        parse_config("shop", data)
    with pytest.raises(ConfigInvalid, match=r"^shop: \[hosts\[0\]\] address: expected a non-empty string, got nothing$"):
        parse_config("shop", stored(hosts=[{"name": "x"}]))
    with pytest.raises(ConfigInvalid, match=r"^production/shop/deploy: expected an object, got \[1\]$"):
        parse_config("shop", [1], "production/shop/deploy")


@pytest.mark.parametrize("value", ["1.4.0", "v2", "2024.11.24+build_7", "release-3"])
def test_good_names(value):
    assert check_name("version", value) == value


@pytest.mark.parametrize("value", ["", "../x", "a/b", ".", "..", "-rf", "a b", "x" * 101, 5])
def test_names_that_could_escape_or_confuse_are_refused(value):
    with pytest.raises(ConfigInvalid, match="invalid version"):
        check_name("version", value)
