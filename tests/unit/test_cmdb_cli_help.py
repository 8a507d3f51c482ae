"""``oam cmdb`` help and option handling that need no ZooKeeper."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from oam.cli import cli

COMMANDS = ("get", "set", "ls", "history", "diff", "rollback", "hosts", "export", "import", "watch")


def test_the_group_help_lists_every_command_with_examples():
    result = CliRunner().invoke(cli, ["cmdb", "--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1]
    assert all(f"\n  {name} " in commands for name in COMMANDS)
    assert "oam cmdb set prod/web/db" in result.output and "OAM_CMDB_PASSWORD" in result.output


def test_set_help_explains_compare_and_set_and_comments():
    result = CliRunner().invoke(cli, ["cmdb", "set", "--help"])
    assert result.exit_code == 0
    assert "--expect-version" in result.output and "--comment" in result.output and "--file" in result.output


def test_a_user_without_a_password_is_told_how_to_give_one():
    result = CliRunner().invoke(cli, ["cmdb", "--cmdb-user", "alice", "get", "prod/web/db"],
                                env={"OAM_CMDB_PASSWORD": None, "OAM_CONFIG": None})
    assert result.exit_code == 1
    assert result.stderr == ("Error: --cmdb-user alice needs a password (--cmdb-password or OAM_CMDB_PASSWORD)\n")


def test_set_needs_exactly_one_source_for_the_value():
    result = CliRunner().invoke(cli, ["cmdb", "--zk", "127.0.0.1:1", "set", "prod/web/db"],
                                env={"OAM_CMDB_USER": None, "OAM_CONFIG": None})
    assert result.exit_code == 2 and "either as an argument or with --file" in result.stderr


def test_invalid_json_is_refused_before_connecting():
    result = CliRunner().invoke(cli, ["cmdb", "--zk", "127.0.0.1:1", "set", "prod/web/db", "{'a': 1}"],
                                env={"OAM_CMDB_USER": None, "OAM_CONFIG": None})
    assert result.exit_code == 1
    assert result.stderr == ("Error: invalid JSON for prod/web/db: Expecting property name enclosed in double "
                             "quotes at line 1 column 2\n")


def test_the_old_connection_spellings_are_gone():
    result = CliRunner().invoke(cli, ["cmdb", "--user", "alice", "get", "prod/web/db"])
    assert result.exit_code == 2 and "--user" in result.stderr and "--cmdb-user" in result.stderr


@pytest.mark.parametrize("command", ["get", "ls", "history", "diff", "hosts", "locks", "access", "set", "delete",
                                     "rollback", "import"])
def test_every_command_that_prints_data_offers_json(command):
    result = CliRunner().invoke(cli, ["cmdb", command, "--help"])
    assert result.exit_code == 0 and "-o, --output [table|json]" in result.output
