"""The one settings mechanism: strict models, one-line errors alike in a TOML file, a live config
and a deploy config, and TOML written through tomli-w."""
from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.host.config import load_agent_config
from agents.host.live_config import validate as validate_live_agent
from deployer.config import parse_config
from foundation.settings import (
    PathStr,
    SettingsError,
    SettingsModel,
    Url,
    load_toml,
    toml_text,
    validate,
    validate_keys,
    write_toml,
)
from order_service.live_config import follow_cmdb
from order_service.settings import LiveSettings

ONE_LINE = re.compile(r"^(?P<source>[^:\n]+): (\[(?P<table>[^\n]+)\] )?(?P<key>[\w\[\]]+): "
                      r"(expected [^\n]+, got [^\n]+|unknown key \(known: [^\n]+\))$")


class Inner(SettingsModel):
    count: int = 1
    ratio: float = 0.5
    where: PathStr = Path("/tmp")
    urls: list[Url] = ["http://a"]


class Outer(SettingsModel):
    name: str = "x"
    on: bool = False
    inner: Inner = Inner()


@pytest.mark.parametrize("data, message", [
    ({"inner": {"count": "10"}}, 'k: [inner] count: expected an integer, got "10"'),
    ({"inner": {"count": True}}, "k: [inner] count: expected an integer, got true"),
    ({"inner": {"count": 1.5}}, "k: [inner] count: expected an integer, got 1.5"),
    ({"on": 1}, "k: on: expected true or false, got 1"),
    ({"inner": {"urls": "http://a"}}, 'k: [inner] urls: expected a list of URLs, got "http://a"'),
    ({"inner": {"urls": ["http://a", "a"]}}, 'k: [inner] urls[1]: expected a URL, got "a"'),
    ({"inner": {"colour": 1}}, "k: [inner] colour: unknown key (known: count, ratio, urls, where)"),
    ({"inner": 3}, "k: inner: expected an object, got 3"),
    ({"name": 1, "on": 2}, "k: name: expected a string, got 1 (and 1 more problem)"),
])
def test_strict_types_and_unknown_keys_are_refused_in_one_line(data, message):
    with pytest.raises(SettingsError) as refused:
        validate(Outer, data, "k")
    assert str(refused.value) == message


def test_what_toml_and_json_naturally_give_is_taken():
    checked = validate(Outer, {"inner": {"ratio": 2, "where": "/srv"}}, "k")
    assert checked.inner.ratio == 2.0 and isinstance(checked.inner.ratio, float)
    assert checked.inner.where == Path("/srv")


def test_a_toml_file_names_its_tables_and_a_long_value_is_cut(tmp_path):
    path = tmp_path / "outer.toml"
    path.write_text(f'[inner]\nurls = "{"x" * 100}"\n')
    with pytest.raises(SettingsError) as refused:
        load_toml(Outer, path)
    assert str(refused.value) == f'outer.toml: [inner] urls: expected a list of URLs, got "{"x" * 56}...'
    with pytest.raises(SettingsError, match="^cannot read .*nope.toml: No such file"):
        load_toml(Outer, tmp_path / "nope.toml")
    path.write_bytes(b'name = "caf\xe9"\n')  # Latin-1, not UTF-8
    with pytest.raises(SettingsError, match="^outer.toml: not UTF-8 text \\(byte 11: invalid continuation byte\\)$"):
        load_toml(Outer, path)


def test_toml_is_written_through_tomli_w_and_reads_back(tmp_path):
    data = {"agent": {"id": 'we"b\\1', "data_dir": Path("/srv/a"), "gone": None},
            "collector": {"urls": ["http://c:4318"]}, "scrape": [{"url": "http://a/metrics"}]}
    path = tmp_path / "private" / "agent.toml"
    write_toml(path, data, mode=0o600)
    assert path.stat().st_mode & 0o777 == 0o600
    write_toml(path, {"agent": {"id": "again"}}, mode=0o600)  # replaced whole, no temporary file left
    assert tomllib.loads(path.read_text()) == {"agent": {"id": "again"}} and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["agent.toml"]
    write_toml(path, data, mode=0o600)
    assert tomllib.loads(path.read_text()) == {"agent": {"id": 'we"b\\1', "data_dir": "/srv/a"},
                                               "collector": {"urls": ["http://c:4318"]},
                                               "scrape": [{"url": "http://a/metrics"}]}
    assert tomllib.loads(toml_text(Outer())) == {"name": "x", "on": False, "inner": {
        "count": 1, "ratio": 0.5, "where": "/tmp", "urls": ["http://a"]}}


def test_keys_are_checked_one_by_one_for_a_live_config():
    good, problems = validate_keys(Outer, {"name": "y", "on": "yes", "inner": {"count": 2}}, "env/x/config")
    assert good == {"name": "y", "inner": Inner(count=2)}
    assert problems == ['env/x/config: on: expected true or false, got "yes"']


# -- acceptance: the same invalid value, the same kind of line, wherever it is written -----------
def _agent_toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as refused:
        load_agent_config(path)
    return str(refused.value)


def _agent_live(caplog, doc: dict) -> str:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="oam.agent.config"):
        assert validate_live_agent(doc, "production/oam-agent/config") == {}
    [line] = [record.getMessage() for record in caplog.records]
    return line.removesuffix("; ignored")


def _order_live(caplog, section: str, value: object) -> str:
    watches: dict[str, object] = {}
    cmdb = SimpleNamespace(watch=lambda key, deliver: watches.setdefault(key, deliver))
    settings = LiveSettings()
    follow_cmdb(settings, cmdb, "production")
    before = settings.get(section)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="order_service.live_config"):
        watches[f"production/order-service/{section}"](SimpleNamespace(exists=True, value=value, version=2))
    assert settings.get(section) == before  # the last good value stays
    [line] = [record.getMessage() for record in caplog.records]
    return line.removesuffix(f"; {section} keeps its last good value")


def _deploy(change: dict) -> str:
    data = {"deploy_root": "/srv/{service}", "hosts": [{"name": "web1", "address": "10.0.0.1"}],
            "restart": "./bin/restart", "health": {"url": "http://{address}:8000/health"}, **change}
    with pytest.raises(SettingsError) as refused:
        parse_config("shop", data, "production/shop/deploy")
    return str(refused.value)


def test_the_same_invalid_value_is_refused_alike_in_a_file_a_live_config_and_a_deploy_config(tmp_path, caplog):
    lines = {
        "a string for a list of URLs": [
            _agent_toml(tmp_path, '[collector]\ntoken = "t"\nurls = "x"\n'),
            _agent_live(caplog, {"collector_urls": "x"}),
            _deploy({"hosts": "x"}),
        ],
        "a string for an integer": [
            _agent_toml(tmp_path, '[agent]\nmetrics_port = "x"\n[collector]\ntoken = "t"\n'),
            _order_live(caplog, "shards", {"count": "x"}),
            _deploy({"keep_releases": "x"}),
        ],
        "an unknown key": [
            _agent_toml(tmp_path, '[agent]\ncolour = "blue"\n[collector]\ntoken = "t"\n'),
            _agent_live(caplog, {"colour": "blue"}),
            _order_live(caplog, "cache", {"colour": "blue"}),
            _deploy({"colour": "blue"}),
        ],
    }
    for kind, found in lines.items():
        for line in found:
            assert ONE_LINE.match(line), f"{kind}: {line!r}"
    assert lines["a string for a list of URLs"] == [
        'agent.toml: [collector] urls: expected a non-empty list of URLs, got "x"',
        'production/oam-agent/config: collector_urls: expected a non-empty list of URLs, got "x"',
        'production/shop/deploy: hosts: expected a list of objects, got "x"',
    ]
    assert lines["a string for an integer"] == [
        'agent.toml: [agent] metrics_port: expected an integer, got "x"',
        'production/order-service: [shards] count: expected an integer, got "x"',
        'production/shop/deploy: keep_releases: expected an integer, got "x"',
    ]
    assert [line.split(": ", 1)[1].split(" (known")[0] for line in lines["an unknown key"]] == [
        "[agent] colour: unknown key", "colour: unknown key", "[cache] colour: unknown key", "colour: unknown key"]
