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
    ({"hosts": []}, "'hosts' is empty"),
    ({"restart": 5}, "'restart' must be str"),
    ({"health": {"url": "ftp://x"}}, "must start with http"),
    ({"health": {"url": "http://{address}:{NOPE}/"}}, "names 'NOPE', which host web1 does not define"),
    ({"health": {"url": "http://x/", "retries": 0}}, "retries >= 1"),
    ({"health": {"url": "http://x/", "timeout": True}}, "must be a number"),
    ({"keep_releases": 1}, "at least 2"),
    ({"shared_dirs": ["../etc"]}, "invalid shared dir"),
    ({"deploy_root": "relative/path"}, "absolute path"),
    ({"deploy_root": "/"}, "absolute path other than /"),
])
def test_bad_configuration_is_named(change, message):
    with pytest.raises(ConfigInvalid, match=message):
        parse_config("shop", stored(**change))


def test_missing_restart_and_repeated_names():
    data = stored()
    del data["restart"]
    with pytest.raises(ConfigInvalid, match="'restart' is required"):
        parse_config("shop", data)
    data = stored()
    data["hosts"][1]["name"] = "web1"
    with pytest.raises(ConfigInvalid, match=r"host names repeat \(web1\)"):
        parse_config("shop", data)
    with pytest.raises(ConfigInvalid, match="hosts\\[0\\]: 'address' is required"):
        parse_config("shop", stored(hosts=[{"name": "x"}]))


@pytest.mark.parametrize("value", ["1.4.0", "v2", "2024.11.24+build_7", "release-3"])
def test_good_names(value):
    assert check_name("version", value) == value


@pytest.mark.parametrize("value", ["", "../x", "a/b", ".", "..", "-rf", "a b", "x" * 101, 5])
def test_names_that_could_escape_or_confuse_are_refused(value):
    with pytest.raises(ConfigInvalid, match="invalid version"):
        check_name("version", value)
