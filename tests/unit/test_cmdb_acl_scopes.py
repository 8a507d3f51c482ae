"""Which ACL each CMDB node gets from grants on the whole tree and on subtrees (scopes)."""
from __future__ import annotations

import pytest
from kazoo.security import Permissions

from cmdb import InvalidKey
from cmdb.acl import Grant, covers, decode_policy, encode_policy, node_acl, policy_node_acl, role_acl, validate_scope

ADMIN = Grant(role_acl("admin", "a", "admin"))
DASHBOARD = Grant(role_acl("dash", "d", "writer"))
DASH_SECRETS = Grant(role_acl("dash", "d", "writer"), "secrets/dashboard")
AGENT_HOSTS = Grant(role_acl("agent", "g", "writer"), "hosts")
AGENT_CONFIG = Grant(role_acl("agent", "g", "reader"), "config/*/oam-agent")
DEPLOYER_KEYS = Grant(role_acl("deployer", "p", "writer"), "config/*/*/deploy")
GRANTS = [ADMIN, DASHBOARD, DASH_SECRETS, AGENT_HOSTS, AGENT_CONFIG, DEPLOYER_KEYS]


def perms(relative: str) -> dict[str, int]:
    return {entry.id.id.split(":")[0]: entry.perms for entry in node_acl(GRANTS, relative)}


def test_a_scoped_grant_covers_its_subtree_only():
    assert perms("hosts/live/web-1")["agent"] == Permissions.READ | Permissions.WRITE | Permissions.CREATE \
        | Permissions.DELETE
    assert perms("config/prod/oam-agent/config")["agent"] == Permissions.READ
    assert "agent" not in perms("config/prod/web/db")
    assert "agent" not in perms("schemas/x")


def test_nodes_above_a_writers_scope_give_it_create_only_and_readers_nothing():
    assert perms("")["agent"] == Permissions.CREATE  # the root, above hosts
    assert perms("config/prod/web")["deployer"] == Permissions.CREATE
    assert perms("config/prod/web/deploy")["deployer"] & Permissions.WRITE
    assert "deployer" not in perms("config/prod/web/db")  # beside its scope, not above it
    assert "agent" not in perms("config")  # a reader needs no way down


def test_secrets_are_outside_every_grant_on_the_whole_tree_but_the_admins():
    assert perms("secrets/dashboard/users/alice") == {"admin": Permissions.ALL,
                                                      "dash": Permissions.ALL & ~Permissions.ADMIN}
    assert "dash" not in perms("secrets/other")
    assert set(perms("config/prod/web/db")) == {"admin", "dash"}


def test_grants_of_one_account_merge_into_one_entry_per_node():
    acl = node_acl(GRANTS, "config/prod/oam-agent/config")
    assert len([entry for entry in acl if entry.id.id.startswith("agent:")]) == 1


def test_the_policy_round_trips_with_its_scopes_and_writers_of_any_scope_may_read_it():
    assert decode_policy(encode_policy(GRANTS)) == GRANTS
    readers = {entry.id.id.split(":")[0]: entry.perms for entry in policy_node_acl(GRANTS)}
    assert readers == {"admin": Permissions.ALL, "dash": Permissions.READ, "agent": Permissions.READ,
                       "deployer": Permissions.READ}


def test_scopes_are_checked_and_normalised():
    assert validate_scope("/config/*/web/") == "config/*/web"
    assert covers("config/*/web", "config/prod/web/db") and not covers("config/*/web", "config/prod")
    for bad in ("", "/", "config/../x", "config/we b"):
        with pytest.raises(InvalidKey):
            validate_scope(bad)
