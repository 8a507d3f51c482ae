"""`oam env` exports what the tour needs: the CMDB account, the environment, SSH, the collector and a read token."""
from __future__ import annotations

import json

from click.testing import CliRunner

from oam.cli import cli


def test_oam_env_exports_the_collector_url_and_the_kept_read_token(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./oam.toml
    monkeypatch.delenv("OAM_CONFIG", raising=False)
    run = tmp_path / "data" / "run"
    run.mkdir(parents=True)
    (run / "cmdb-suite.password").write_text("secret\n")
    (run / "oam-read.token").write_text("read-token\n")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "env", "-o", "json"])
    assert result.exit_code == 0, result.output
    variables = json.loads(result.output)
    assert variables["OAM_COLLECTOR_URL"].startswith("http://") and variables["OAM_COLLECTOR_TOKEN"] == "read-token"
    assert {"OAM_CMDB_ZK", "OAM_CMDB_USER", "OAM_CMDB_PASSWORD", "OAM_ENVIRONMENT", "OAM_KNOWN_HOSTS",
            "OAM_SSH_KEY"} <= set(variables)
