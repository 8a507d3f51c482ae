"""The shared CLI plumbing: tables, JSON, one-line errors, the CMDB connection and -o options."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from foundation.cli_options import CmdbConnection, cmdb_options, output_option
from foundation.output import CommandError, error_line, one_line, reported, run, table, to_json


def test_a_table_has_a_header_a_rule_and_columns_two_spaces_apart():
    text = table([["web-1", "v1", None], ["db", "v12", "primary"]], headers=["HOST", "VERSION", "NOTE"])
    assert text.splitlines() == [  # tabulate's "simple" layout: a header gets two blanks of room
        "HOST    VERSION    NOTE",
        "------  ---------  -------",
        "web-1   v1",
        "db      v12        primary",
    ]


def test_a_table_keeps_text_as_text_and_aligns_on_request():
    text = table([["a", "1.50", "007"], ["bbb", "12", "x"]], align=["left", "right", "left"])
    assert text.splitlines() == ["a    1.50  007", "bbb    12  x"]  # no reparsing of numbers, no header


def test_no_rows_prints_only_the_header_or_nothing():
    assert table([], headers=["A", "B"]).splitlines()[0].split() == ["A", "B"]
    assert table([]) == ""


@dataclasses.dataclass
class Holder:
    name: str
    since: object


def test_json_is_indented_plain_data():
    data = {"holders": [Holder("deploy/shop", Path("/x"))], "tags": ("a",)}
    text = to_json(data)
    assert json.loads(text) == {"holders": [{"name": "deploy/shop", "since": "/x"}], "tags": ["a"]}
    assert text.startswith('{\n  "holders"')


def test_errors_are_one_line():
    assert one_line("first\n\n  second  \n") == "first; second"
    assert CommandError("a\nb").format_message() == "a; b"
    assert error_line(FileNotFoundError(2, "No such file or directory", "/etc/oam.toml")) == \
        "Error: /etc/oam.toml: No such file or directory"
    with pytest.raises(CommandError, match="^bad value$"):
        with reported(ValueError):
            raise ValueError("bad value")
    with pytest.raises(KeyError):  # only the named errors are turned into a message
        with reported(ValueError):
            raise KeyError("x")


@click.command()
@cmdb_options
@output_option
def show(cmdb: CmdbConnection, output: str) -> None:
    click.echo(json.dumps({"connection": dataclasses.asdict(cmdb), "repr": repr(cmdb), "output": output}))


def invoke(args: list[str], env: dict[str, str | None] | None = None) -> dict:
    clean = {"OAM_CMDB_ZK": None, "OAM_CMDB_USER": None, "OAM_CMDB_PASSWORD": None, "OAM_CMDB_ROOT": None}
    result = CliRunner().invoke(show, args, env={**clean, **(env or {})})
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cmdb_options_have_one_spelling_and_their_variables():
    given = invoke(["--zk", "zk1:2181,zk2:2181", "--cmdb-user", "ops", "--cmdb-password", "s3cret",
                    "--cmdb-root", "/t", "-o", "json"])
    assert given["connection"] == {"zk": "zk1:2181,zk2:2181", "user": "ops", "password": "s3cret", "root": "/t"}
    assert given["output"] == "json" and "s3cret" not in given["repr"]
    from_env = invoke([], {"OAM_CMDB_ZK": "zk:1", "OAM_CMDB_USER": "u", "OAM_CMDB_PASSWORD": "p",
                           "OAM_CMDB_ROOT": "/r"})
    assert from_env["connection"] == {"zk": "zk:1", "user": "u", "password": "p", "root": "/r"}
    assert from_env["output"] == "table"
    assert invoke([])["connection"] == {"zk": None, "user": None, "password": None, "root": None}


def test_the_password_is_never_shown_in_help():
    result = CliRunner().invoke(show, ["--help"], env={"OAM_CMDB_PASSWORD": "s3cret"})
    assert "--cmdb-password" in result.output and "s3cret" not in result.output


def test_an_unknown_output_format_is_refused():
    result = CliRunner().invoke(show, ["-o", "yaml"])
    assert result.exit_code == 2 and "'yaml' is not one of 'table', 'json'" in result.output


def test_defaults_fill_only_what_is_unset_and_a_default_password_follows_only_its_user():
    defaults = {"zk": "127.0.0.1:2181", "user": "oam-suite", "password": "pw", "root": "/oam/cmdb"}
    assert CmdbConnection().or_defaults(**defaults) == CmdbConnection(**defaults)
    other = CmdbConnection(user="alice").or_defaults(**defaults)
    assert (other.user, other.password, other.zk) == ("alice", None, "127.0.0.1:2181")
    assert CmdbConnection(zk="zk:1", root="/x").or_defaults(**defaults).client_kwargs() == \
        {"user": "oam-suite", "password": "pw", "root": "/x"}
    assert CmdbConnection().or_defaults(password="pw").password is None  # a password alone names nobody
    assert CmdbConnection(zk="zk:1").client_kwargs() == {"user": None, "password": None}


class OwnError(Exception):
    pass


@click.command()
@click.argument("what")
def failing(what: str) -> None:
    if what == "own":
        raise OwnError("the lock is held\nby alice")
    if what == "log":
        raise OwnError("zookeeper died; last lines of its log:\nline 1\nline 2\n")
    if what == "os":
        raise PermissionError(13, "Permission denied", "/var/lib/oam")
    if what == "click":
        raise click.ClickException("refused")
    raise RuntimeError("unexpected")


@pytest.mark.parametrize(("what", "line"), [
    ("own", "by alice\nError: the lock is held"),  # a message's further lines are context, printed first
    ("log", "line 1\nline 2\nError: zookeeper died; last lines of its log (above)"),
    ("os", "Error: /var/lib/oam: Permission denied"),
    ("click", "Error: refused"),
    ("bug", "Error: internal error: RuntimeError: unexpected (set OAM_DEBUG=1 for the traceback)"),
])
def test_run_ends_every_error_in_one_line(what, line, monkeypatch, capsys):
    monkeypatch.delenv("OAM_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["prog", what])
    with pytest.raises(SystemExit) as stopped:
        run(failing, packages=(__name__.partition(".")[0],))
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines() == line.splitlines()


def test_oam_errors_are_one_line_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "oam", "--data-dir", str(tmp_path), "collector", "token",
                             "revoke", "nobody"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["Error: no token named 'nobody'"]


def _commands(group: click.Group, ctx: click.Context, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        found[path] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, ctx, f"{path} "))
    return found


def _options(command: click.Command) -> set[str]:
    return {flag for param in command.params if isinstance(param, click.Option) for flag in param.opts}


WITH_JSON = {
    "status", "env", "down", "bench", "releases", "deploy", "rollback", "deploy-config", "trace", "load",
    "cmdb get", "cmdb set", "cmdb delete", "cmdb ls", "cmdb history", "cmdb diff", "cmdb rollback", "cmdb hosts",
    "cmdb locks", "cmdb access", "cmdb import", "cmdb export", "cmdb watch", "cmdb schema ls", "cmdb schema get",
    "collector token issue", "collector token list", "collector retention", "agent install", "agent uninstall",
    "alerts test",
    "traces search",
    "alerts ls", "alerts get", "alerts mail", "alerts status", "alerts history", "alerts silence ls",
}
WITH_CMDB = {"cmdb", "deploy", "rollback", "releases", "deploy-config", "dashboard run", "dashboard add-user",
             "collector run", "agent run", "agent install", "agent uninstall", "sample backend", "sample gateway",
             "sample worker", "alerts"}


def test_every_command_spells_output_and_the_cmdb_connection_the_same_way():
    from oam.cli import cli

    with click.Context(cli) as ctx:
        commands = _commands(cli, ctx)
    assert {path for path, command in commands.items() if "-o" in _options(command)} == WITH_JSON
    assert all({"-o", "--output"} <= _options(commands[path]) for path in WITH_JSON)
    cmdb_spelling = {"--zk", "--cmdb-user", "--cmdb-password", "--cmdb-root"}
    assert {path for path, command in commands.items() if "--zk" in _options(command)} == WITH_CMDB
    assert all(cmdb_spelling <= _options(commands[path]) for path in WITH_CMDB)
    for path, command in commands.items():
        options = _options(command)
        assert not options & {"--user", "--root", "--cmdb", "--json"}, path
        listens = any(isinstance(p, click.Option) and "--host" in p.opts and "listen" in (p.help or "")
                      for p in command.params)
        assert not listens, f"{path}: a listen address is --bind"
