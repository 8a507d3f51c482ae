"""`oam collector token ...` and the collector's configuration file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.config import load_config
from foundation.settings import SettingsError
from oam.cli import cli


def test_token_issue_list_revoke_under_the_suite_data_dir(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    issued = runner.invoke(cli, [*base, "collector", "token", "issue", "web-01"])
    assert issued.exit_code == 0 and issued.output.startswith("oam_")
    assert (tmp_path / "collector" / "tokens.json").exists()
    listed = runner.invoke(cli, [*base, "collector", "token", "list"])
    assert "web-01" in listed.output and issued.output.strip() not in listed.output
    assert listed.output.splitlines()[0].split() == ["NAME", "SCOPE", "ISSUED", "TOKEN"]
    assert listed.output.splitlines()[2].split()[:2] == ["web-01", "ingest"]
    as_json = runner.invoke(cli, [*base, "collector", "token", "list", "-o", "json"])
    [record] = json.loads(as_json.output)
    assert as_json.exit_code == 0 and record["name"] == "web-01" and issued.output.startswith(record["prefix"])
    assert set(record) == {"name", "created", "prefix", "scope"} and issued.output.strip() not in as_json.output
    assert record["scope"] == "ingest"
    second = json.loads(runner.invoke(cli, [*base, "collector", "token", "issue", "web-02", "--scope", "read",
                                            "-o", "json"]).output)
    assert (second["name"], second["scope"]) == ("web-02", "read") and second["token"].startswith("oam_")
    wrong = runner.invoke(cli, [*base, "collector", "token", "issue", "web-03", "--scope", "admin"])
    assert wrong.exit_code == 2 and "'admin' is not one of 'ingest', 'read'" in wrong.output
    again = runner.invoke(cli, [*base, "collector", "token", "issue", "web-01"])
    assert again.exit_code == 1 and "already exists" in again.output
    assert runner.invoke(cli, [*base, "collector", "token", "revoke", "web-01"]).exit_code == 0
    gone = runner.invoke(cli, [*base, "collector", "token", "revoke", "web-01"])
    assert gone.exit_code == 1 and "no token named 'web-01'" in gone.output


def test_config_file_overrides_defaults_and_rejects_unknown_keys(tmp_path: Path) -> None:
    path, ca = tmp_path / "collector.toml", tmp_path / "ca.pem"
    ca.write_text("a CA certificate\n")
    path.write_text('port = 5000\nspool_dir = "/tmp/x"\n[elasticsearch]\nhosts = ["https://es:9200"]\n'
                    f'username = "u"\npassword = "p"\nca_file = "{ca}"\n[retention_days]\nlogs = 3\n')
    config = load_config(path, {"port": 4318, "host": "0.0.0.0"})
    assert (config.port, config.host, config.retention_days["logs"], config.retention_days["errors"]) == \
        (5000, "0.0.0.0", 3, 90)
    options = config.elasticsearch.client_options()
    assert options["basic_auth"] == ("u", "p") and options["ca_certs"] == str(ca)
    path.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match=r"^collector.toml: prot: unknown key \(known: bulk_chunk_size, "):
        load_config(path)
    path.write_text("[retention_days]\nlgos = 1\n")
    with pytest.raises(SettingsError, match='^collector.toml: \\[retention_days\\] lgos: expected one of "logs", '):
        load_config(path)
    with pytest.raises(SettingsError, match=r'^production/oam-collector/config: threads: expected an integer '
                                            r'greater than 0, got 0$'):
        load_config(None, cmdb={"threads": 0}, cmdb_key="production/oam-collector/config")


def test_layers_merge_tables_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text('[elasticsearch]\nusername = "u"\n[retention_days]\nlogs = 3\n')
    config = load_config(path, {"elasticsearch": {"hosts": ["http://es:9200"]}},
                         cmdb={"retention_days": {"errors": 10}}, port=5001)
    assert config.elasticsearch.hosts == ["http://es:9200"] and config.elasticsearch.username == "u"
    assert (config.retention_days["logs"], config.retention_days["errors"], config.retention_days["spans"]) == \
        (3, 10, 7)
    assert config.port == 5001


def test_bad_config_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text("port = 'x'\n")
    result = CliRunner().invoke(cli, ["collector", "run", "--config", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == 'Error: collector.toml: port: expected an integer, got "x"'


def test_run_listens_on_bind_and_host_is_no_listen_address(tmp_path: Path) -> None:
    help_text = CliRunner().invoke(cli, ["collector", "run", "--help"]).output
    assert "--bind TEXT" in help_text and "--host" not in help_text
    assert "--zk" in help_text and "--cmdb-user" in help_text and "--cmdb-root" in help_text


@pytest.mark.parametrize("gtx", ["4bf92f3577b34da6a3ce929d0e0e473", "4bf92f3577b34da6a3ce929d0e0e4736/../x", "z" * 32])
def test_trace_refuses_what_is_not_a_gtx_before_asking_anyone(tmp_path: Path, gtx: str) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "trace", gtx, "--url", "http://127.0.0.1:9",
                                      "--token", "t"])
    assert result.exit_code == 2 and "is not a GTX (32 lowercase hex digits" in result.output


def test_trace_says_when_the_answer_is_not_a_collectors(tmp_path: Path) -> None:
    import http.server
    import threading

    class NotACollector(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>hello</html>" if "4bf9" in self.path else b"[1, 2]"
            self.send_response(200 if "4bf9" in self.path else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotACollector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        html = CliRunner().invoke(cli, ["trace", "4BF92F3577B34DA6A3CE929D0E0E4736\n", "--url", url, "--token", "t"])
        listed = CliRunner().invoke(cli, ["trace", "0" * 31 + "1", "--url", url, "--token", "t"])
    finally:
        server.shutdown()
    assert html.exit_code == 1 and "answered with something that is not JSON" in html.output
    assert listed.exit_code == 1 and "Not Found (HTTP 404)" in listed.output
