"""Settings: defaults, the TOML file, and one clear line for a bad file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from foundation.settings import SettingsError
from oam.config import load


def test_defaults_are_the_documented_ports(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAM_CONFIG", raising=False)
    settings = load()
    assert (settings.elasticsearch.port, settings.zookeeper.port) == (9200, 2181)
    assert (settings.ports.collector, settings.ports.dashboard, settings.ports.gateway) == (4318, 8080, 8000)
    assert (settings.ports.backend, settings.ports.redis, settings.ports.agent_metrics) == (8001, 6379, 9110)


def test_a_file_overrides_defaults(tmp_path):
    path = tmp_path / "oam.toml"
    path.write_text('data_dir = "/srv/oam"\n[elasticsearch]\nport = 19200\nsecurity = true\n[zookeeper]\nport = 12181\n')
    settings = load(path)
    assert settings.data_dir == Path("/srv/oam")
    assert settings.elasticsearch.port == 19200 and settings.elasticsearch.security is True
    assert settings.zookeeper.port == 12181 and settings.source == path


@pytest.mark.parametrize("text, message", [
    ("[elasticsearch]\nprot = 1\n", "oam.toml: [elasticsearch] prot: unknown key (known: heap_mb, nodes, password, "
                                     "port, security, transport_port)"),
    ("[elasticsearch]\nport = \"9200\"\n", 'oam.toml: [elasticsearch] port: expected an integer, got "9200"'),
    ("elasticsearch = 3\n", "oam.toml: elasticsearch: expected a table, got 3"),
    ("[ports]\ndashboard = 70000\n", "oam.toml: [ports] dashboard: expected an integer less than or equal to "
                                      "65535, got 70000"),
    ('data_dir = ["a"]\n', 'oam.toml: data_dir: expected a path, got ["a"]'),
])
def test_a_bad_file_is_named_with_the_problem(tmp_path, text, message):
    path = tmp_path / "oam.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as refused:
        load(path)
    assert str(refused.value) == message


def test_a_file_that_is_not_toml_is_named(tmp_path):
    path = tmp_path / "oam.toml"
    path.write_text("[zookeeper\n")
    with pytest.raises(SettingsError, match="^oam.toml: not valid TOML: "):
        load(path)


def test_the_cli_reports_a_bad_config_in_one_line(tmp_path):
    path = tmp_path / "oam.toml"
    path.write_text('[ports]\ncollector = "x"\n')
    result = subprocess.run([sys.executable, "-m", "oam", "--config", str(path), "status"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ['Error: oam.toml: [ports] collector: expected an integer, got "x"']
    path.write_text("[zookeeper]\nports = 1\n")
    result = subprocess.run([sys.executable, "-m", "oam", "--config", str(path), "status"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["Error: oam.toml: [zookeeper] ports: unknown key (known: port)"]
    missing = subprocess.run([sys.executable, "-m", "oam", "--config", str(tmp_path / "nope.toml"), "status"],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
