"""``oam cmdb`` against a real ZooKeeper: the round trip, and one clear line for each kind of error."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner

from backing_services.ports import free_port
from cmdb import Cmdb
from oam.cli import cli


@pytest.fixture
def oam(zookeeper, tmp_path):
    """Runs ``oam cmdb ...`` as admin on a fresh root; returns (exit code, stdout, stderr)."""
    root = f"/oam-test-{uuid.uuid4().hex[:10]}/cmdb"
    spool = tmp_path / "changes.jsonl"
    runner = CliRunner()

    def run(*args: str, user: str = "admin", password: str = "admin-pw", input: str | None = None):
        env = {"OAM_CMDB_USER": user, "OAM_CMDB_PASSWORD": password, "OAM_CONFIG": None, "OAM_CMDB_ZK": None}
        result = runner.invoke(cli, ["cmdb", "--zk", zookeeper.connection_string, "--cmdb-root", root,
                                     "--spool", str(spool), *args], env=env, input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    run.root = root
    run.zk = zookeeper.connection_string
    run.spool = spool
    return run


def test_set_get_history_diff_rollback_from_the_command_line(oam):
    assert oam("set", "prod/web/db", '{"host": "db1", "pool": 10}', "-m", "first db") == (
        0, "prod/web/db: version 1 (create)\n", "")
    assert oam("set", "prod/web/db", '{"host": "db2", "pool": 10}', "--expect-version", "1")[1] == (
        "prod/web/db: version 2 (update)\n")
    code, out, err = oam("get", "prod/web/db")
    assert code == 0 and json.loads(out) == {"host": "db2", "pool": 10} and err == "# prod/web/db version 2\n"
    assert json.loads(oam("get", "prod/web/db", "--version", "1")[1]) == {"host": "db1", "pool": 10}

    code, out, _ = oam("history", "prod/web/db")
    header, _, *lines = out.splitlines()
    assert code == 0 and header.split() == ["VERSION", "AT", "USER", "ACTION", "COMMENT"] and len(lines) == 2
    assert lines[0].startswith("v1 ") and "admin" in lines[0] and "create" in lines[0] and lines[0].endswith("first db")
    records = json.loads(oam("history", "prod/web/db", "-o", "json")[1])
    assert [(r["version"], r["action"], r["user"], r["comment"]) for r in records] == [
        (1, "create", "admin", "first db"), (2, "update", "admin", "")]
    assert records[1]["old"] == {"host": "db1", "pool": 10} and records[1]["new"] == {"host": "db2", "pool": 10}
    code, out, err = oam("get", "prod/web/db", "-o", "json")
    assert (code, err) == (0, "") and json.loads(out) == {"key": "prod/web/db", "version": 2,
                                                          "value": {"host": "db2", "pool": 10}}
    diff = json.loads(oam("diff", "prod/web/db", "1", "2", "-o", "json")[1])
    assert (diff["key"], diff["old_version"], diff["new_version"]) == ("prod/web/db", 1, 2)
    assert '+  "host": "db2",' in diff["diff"]

    code, out, _ = oam("diff", "prod/web/db", "1", "2")
    assert code == 0 and '-  "host": "db1",' in out and '+  "host": "db2",' in out
    assert oam("rollback", "prod/web/db", "1")[1] == "prod/web/db: version 3 (rollback to version 1)\n"
    assert json.loads(oam("get", "prod/web/db")[1]) == {"host": "db1", "pool": 10}
    assert oam("diff", "prod/web/db", "1")[1] == "(no difference)\n"
    assert oam("ls", "prod")[1] == "prod/web/db  v3\n"
    code, out, _ = oam("set", "prod/web/flags", "--file", "-", "-o", "json", input='{"beta": true}')
    created = json.loads(out)
    assert code == 0 and (created["key"], created["version"], created["action"]) == ("prod/web/flags", 1, "create")
    assert json.loads(oam("ls", "prod", "--values", "-o", "json")[1]) == [
        {"key": "prod/web/db", "version": 3, "value": {"host": "db1", "pool": 10}},
        {"key": "prod/web/flags", "version": 1, "value": {"beta": True}}]
    assert [json.loads(line)["event"]["action"] for line in oam.spool.read_text().splitlines()] == [
        "cmdb-create", "cmdb-update", "cmdb-rollback", "cmdb-create"]


def test_each_error_is_one_clear_line(oam, tmp_path):
    oam("set", "prod/web/db", '{"host": "db1"}')
    oam("grant", "viewer", "--role", "reader", "--user-password", "viewer-pw")
    schema = tmp_path / "db.schema.json"
    schema.write_text('{"type": "object", "required": ["host"]}')
    assert oam("schema", "set", "*/web/db", str(schema))[0] == 0
    code, out, _ = oam("schema", "get", "*/web/db", "-o", "json")
    assert code == 0 and json.loads(out) == {"type": "object", "required": ["host"]}

    cases = [
        (("get", "prod/web/missing"), {}, "Error: no such key: prod/web/missing"),
        (("set", "prod/web/db", "{host: db2}"), {},
         "Error: invalid JSON for prod/web/db: Expecting property name enclosed in double quotes at line 1 column 2"),
        (("set", "prod/web/db", '{"pool": 3}'), {},
         "Error: prod/web/db violates the schema for '*/web/db': 'host' is a required property"),
        (("set", "prod/web/db", '{"host": "db2"}', "--expect-version", "0"), {},
         "Error: version conflict on prod/web/db: expected version 0, current version is 1 "
         "(it changed since you read it; re-read and retry)"),
        (("set", "prod/web/db", '{"host": "db2"}'), {"user": "viewer", "password": "viewer-pw"},
         "Error: permission denied: user 'viewer' may not write prod/web/db; its credentials are read-only here"),
        (("set", "prod/web", "1"), {}, "Error: invalid key 'prod/web': expected environment/service/name"),
        (("diff", "prod/web/db", "7"), {}, "Error: prod/web/db has no version 7 (current version is 1)"),
    ]
    for args, who, message in cases:
        code, out, err = oam(*args, **who)
        assert (code, out, err) == (1, "", message + "\n"), args
    assert json.loads(oam("get", "prod/web/db")[1]) == {"host": "db1"}
    assert oam("get", "prod/web/db")[2] == "# prod/web/db version 1\n"


def test_an_unreachable_zookeeper_is_one_line_within_the_timeout():
    port = free_port()
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["cmdb", "--zk", f"127.0.0.1:{port},127.0.0.1:{free_port()}",
                                      "--timeout", "1.5", "get", "prod/web/db"],
                                env={"OAM_CMDB_USER": None, "OAM_CMDB_PASSWORD": None})
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: ZooKeeper unreachable at 127.0.0.1:{port},127.0.0.1:")
    assert result.stderr.endswith(" within 1.5s\n") and result.stderr.count("\n") == 1
    assert time.monotonic() - started < 30  # it gave up rather than hanging


def test_the_password_is_never_printed(oam):
    secret = "s3cr3t-" + uuid.uuid4().hex
    outputs = [oam("get", "prod/web/none", password=secret), oam("--help"), oam("set", "prod/web/x", "1",
                                                                                 password=secret)]
    assert all(secret not in out + err for _, out, err in outputs)


def test_hosts_export_and_import_from_the_command_line(oam, tmp_path):
    with Cmdb(oam.zk, user="admin", password="admin-pw", root=oam.root) as agent:
        from cmdb import HostFacts

        agent.inventory.register(HostFacts("web-1", role="web", environment="prod", addresses=["10.0.0.5"],
                                           services=["web"]))
        agent.inventory.remember(HostFacts("db-1", role="db", environment="prod", services=["postgres"]))
        code, out, _ = oam("hosts")
        assert code == 0
        header, _, *rows = out.splitlines()
        assert header.split() == ["HOST", "STATE", "ROLE", "ENVIRONMENT", "ADDRESSES", "SERVICES"]
        assert [row.split()[:4] for row in rows] == [["db-1", "DOWN", "db", "prod"], ["web-1", "up", "web", "prod"]]
        code, out, _ = oam("hosts", "-o", "json", "--service", "web")
        [web] = json.loads(out)
        assert code == 0 and (web["name"], web["state"], web["addresses"], web["services"]) == (
            "web-1", "up", ["10.0.0.5"], ["web"])
    oam("set", "prod/web/db", '{"host": "db1"}')
    backup = tmp_path / "backup.yaml"
    assert oam("export", str(backup))[0] == 0
    code, out, _ = oam("export", "-o", "json")
    assert code == 0 and json.loads(out)["config"]["prod/web/db"] == {"host": "db1"}
    edited = backup.read_text().replace("host: db1", "host: db9")
    backup.write_text(edited)
    code, out, err = oam("import", str(backup), "--dry-run")
    assert code == 0 and "-  \"host\": \"db1\"" in out and "+  \"host\": \"db9\"" in out
    assert err == "would change 1 item(s) (dry run)\n"
    assert json.loads(oam("get", "prod/web/db")[1]) == {"host": "db1"}
    code, out, _ = oam("import", str(backup), "--dry-run", "-o", "json")
    assert code == 0 and [(c["action"], c["kind"], c["name"], c["new"]) for c in json.loads(out)] == [
        ("update", "config", "prod/web/db", {"host": "db9"})]
    assert oam("import", str(backup)) == (0, "update  config  prod/web/db\n", "changed 1 item(s)\n")
    assert json.loads(oam("get", "prod/web/db")[1]) == {"host": "db9"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: oam-cmdb/1\nconfig: {prod/web/db: {host: [}\n")
    code, out, err = oam("import", str(bad))
    assert code == 1 and err.startswith(f"Error: invalid YAML in {bad} at line 2") and err.count("\n") == 1


def test_watch_prints_each_change_until_ctrl_c(oam):
    oam("set", "prod/web/db", '{"host": "db1"}')
    env = {**os.environ, "OAM_CMDB_USER": "admin", "OAM_CMDB_PASSWORD": "admin-pw", "PYTHONUNBUFFERED": "1"}
    watcher = subprocess.Popen([sys.executable, "-m", "oam", "cmdb", "--zk", oam.zk, "--cmdb-root", oam.root,
                                "watch", "prod/web/db"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        assert watcher.stdout.readline() == 'v1  {"host": "db1"}\n'
        oam("set", "prod/web/db", '{"host": "db2"}', "-m", "move")
        oam("delete", "prod/web/db")
        assert watcher.stdout.readline() == 'v2  {"host": "db2"}  by admin: move\n'
        assert watcher.stdout.readline() == "v3  (no value)  by admin\n"
    finally:
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=20)
    assert watcher.returncode == 0 and "Traceback" not in err


def test_watch_prints_json_lines_with_o_json(oam):
    oam("set", "prod/web/db", '{"host": "db1"}')
    env = {**os.environ, "OAM_CMDB_USER": "admin", "OAM_CMDB_PASSWORD": "admin-pw", "PYTHONUNBUFFERED": "1"}
    watcher = subprocess.Popen([sys.executable, "-m", "oam", "cmdb", "--zk", oam.zk, "--cmdb-root", oam.root,
                                "watch", "prod/web/db", "-o", "json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = json.loads(watcher.stdout.readline())
        assert (first["version"], first["value"], first["user"]) == (1, {"host": "db1"}, None)
        oam("set", "prod/web/db", '{"host": "db2"}', "-m", "move")
        second = json.loads(watcher.stdout.readline())
        assert (second["version"], second["value"], second["user"], second["comment"]) == (
            2, {"host": "db2"}, "admin", "move")
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.communicate(timeout=20)
    assert watcher.returncode == 0


def test_connection_and_credentials_can_come_from_the_oam_settings_file(oam, tmp_path):
    oam("set", "prod/web/db", '{"host": "db1"}')
    config = tmp_path / "oam.toml"
    config.write_text(f'[cmdb]\nservers = "{oam.zk}"\nroot = "{oam.root}"\nuser = "admin"\n'
                      f'password = "admin-pw"\nhistory_limit = 5\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "cmdb", "get", "prod/web/db"],
                                env={"OAM_CMDB_USER": None, "OAM_CMDB_PASSWORD": None, "OAM_CMDB_ZK": None})
    assert result.exit_code == 0 and json.loads(result.stdout) == {"host": "db1"}
    assert "admin-pw" not in result.output


def test_locks_and_access_as_tables_and_json(oam):
    oam("grant", "viewer", "--role", "reader", "--user-password", "viewer-pw")
    code, out, _ = oam("access")
    assert code == 0 and out.splitlines()[0].split() == ["USER", "ROLE"]
    roles = {row["user"]: row["role"] for row in json.loads(oam("access", "-o", "json")[1])}
    assert roles["admin"] == "admin" and roles["viewer"] == "reader"
    assert oam("locks", "-o", "json")[:2] == (0, "[]\n")
    with Cmdb(oam.zk, user="admin", password="admin-pw", root=oam.root) as handle, \
            handle.lock("deploy-shop", who="alice"):
        [held] = json.loads(oam("locks", "-o", "json")[1])
        assert (held["name"], held["who"], held["pid"], held["waiting"]) == ("deploy-shop", "alice", os.getpid(), 0)
        code, out, _ = oam("locks")
        assert code == 0 and out.splitlines()[2].split()[:2] == ["deploy-shop", "alice"]
