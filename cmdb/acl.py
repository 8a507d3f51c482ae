"""Digest ACLs: who may do what in the CMDB tree, on the whole tree or on one subtree.

The policy is a list of grants kept as JSON in ``<root>/access``, which admins may change and
writers may read (ZooKeeper hides the digests of an ACL from clients without the ADMIN
permission, so writers learn the list from there to give the nodes they create the right ACL;
readers cannot see it). The first account that writes to an empty tree becomes its admin (all
permissions); it then grants others a role, on the whole tree or on subtrees (scopes)::

    grant(client, layout, "dashboard", "pa55", role="reader")
    grant(client, layout, "agent", "s3cret", role="writer", scopes=["hosts"])
    grant(client, layout, "agent", "s3cret", role="reader", scopes=["config/prod/oam-agent"])

A scope is a path below the root whose segments may be ``*`` (any one segment), e.g.
``config/*/*/deploy``. A grant covers the nodes at and below its scopes; the nodes above a
scope give a writer CREATE only, so it can make the path down to its subtree (ZooKeeper lets
whoever may create a node choose its ACL: such a writer can add new nodes there, never change
or remove the others). ``secrets`` is covered by admins and by grants scoped to it only: a
grant on the whole tree does not reach it. Each node's ACL is :func:`node_acl`.

ZooKeeper keeps only ``user:base64(sha1(user:password))`` in an ACL, never the password.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.security import ACL, Id, Permissions, make_digest_acl

from .errors import InvalidKey
from .paths import Layout, validate_segment

Role = Literal["admin", "writer", "reader"]
ROLES: tuple[Role, ...] = ("admin", "writer", "reader")
SECRETS = "secrets"  # the subtree a whole-tree grant does not reach (admins excepted)
TREE = ""  # the scope of a grant on the whole tree


@dataclass(frozen=True)
class Grant:
    """One policy entry: an ACL entry and the subtree it covers (``TREE``: all of it)."""

    acl: ACL
    scope: str = TREE


def validate_scope(scope: str) -> str:
    """A scope normalised (no leading or trailing ``/``), or :class:`InvalidKey` naming the problem."""
    parts = [part for part in scope.strip().strip("/").split("/") if part]
    if not parts:
        raise InvalidKey("empty scope: leave it out to grant on the whole tree")
    return "/".join(part if part == "*" else validate_segment(part, "scope segment") for part in parts)


def _matches(pattern: list[str], parts: list[str]) -> bool:
    return all(want in ("*", got) for want, got in zip(pattern, parts))


def covers(scope: str, relative: str) -> bool:
    """True if the node at ``relative`` (path below the root) is at or below ``scope``."""
    pattern, parts = scope.split("/"), [p for p in relative.split("/") if p]
    return len(parts) >= len(pattern) and _matches(pattern, parts)


def above(scope: str, relative: str) -> bool:
    """True if the node at ``relative`` lies on the way down to ``scope`` (the root included)."""
    pattern, parts = scope.split("/"), [p for p in relative.split("/") if p]
    return len(parts) < len(pattern) and _matches(pattern, parts)


def node_acl(grants: Iterable[Grant], relative: str) -> list[ACL]:
    """The ACL of the node at ``relative`` (``""``: the root): the grants covering it, merged per
    account; CREATE for writers whose scope lies below it."""
    in_secrets = covers(SECRETS, relative)
    merged: dict[tuple[str, str], int] = {}
    for grant in grants:
        perms = grant.acl.perms
        if grant.scope == TREE:
            if in_secrets and not perms & Permissions.ADMIN:
                continue
        elif not covers(grant.scope, relative):
            if not (perms & Permissions.CREATE and above(grant.scope, relative)):
                continue
            perms = Permissions.CREATE
        ident = (grant.acl.id.scheme, grant.acl.id.id)
        merged[ident] = merged.get(ident, 0) | perms
    return [ACL(perms, Id(*ident)) for ident, perms in merged.items()]


def role_acl(user: str, password: str, role: Role) -> ACL:
    """The ACL entry giving ``user`` a role: admin (all), writer (all but admin), reader (read)."""
    if role == "admin":
        return make_digest_acl(user, password, all=True)
    if role == "writer":
        return make_digest_acl(user, password, read=True, write=True, create=True, delete=True)
    if role == "reader":
        return make_digest_acl(user, password, read=True)
    raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")


def acl_user(entry: ACL) -> str:
    """The user name of a digest ACL entry ('' for other schemes)."""
    return entry.id.id.split(":", 1)[0] if entry.id.scheme == "digest" else ""


def role_of(entry: ACL) -> str:
    """admin, writer, reader, or the permissions joined by ``+``."""
    perms = entry.acl_list
    if "ALL" in perms:
        return "admin"
    return "writer" if "WRITE" in perms else "reader" if perms == ["READ"] else "+".join(perms).lower()


def policy(client: KazooClient, layout: Layout) -> list[Grant]:
    """The tree's grants (admins and writers may read them)."""
    data, _ = client.get(layout.access)
    return decode_policy(data)


def decode_policy(data: bytes) -> list[Grant]:
    return [Grant(ACL(entry["perms"], Id(entry["scheme"], entry["id"])), entry.get("scope", TREE))
            for entry in json.loads(data)]


def encode_policy(grants: list[Grant]) -> bytes:
    return json.dumps([{"perms": g.acl.perms, "scheme": g.acl.id.scheme, "id": g.acl.id.id,
                        **({"scope": g.scope} if g.scope else {})} for g in grants]).encode()


def policy_node_acl(grants: list[Grant]) -> list[ACL]:
    """Who may see the policy node: admins (all) and anyone who may create or write somewhere (read)."""
    merged: dict[tuple[str, str], int] = {}
    for grant in grants:
        perms = grant.acl.perms
        if perms & Permissions.ADMIN and grant.scope == TREE:
            perms = Permissions.ALL
        elif perms & (Permissions.WRITE | Permissions.CREATE):
            perms = Permissions.READ
        else:
            continue
        ident = (grant.acl.id.scheme, grant.acl.id.id)
        merged[ident] = merged.get(ident, 0) | perms
    return [ACL(perms, Id(*ident)) for ident, perms in merged.items()]


def bootstrap(client: KazooClient, layout: Layout, user: str, password: str) -> list[Grant]:
    """Create the root with ``user`` as its only admin; returns the policy."""
    grants = [Grant(role_acl(user, password, "admin"))]
    client.ensure_path(layout.root, node_acl(grants, ""))
    client.create(layout.access, encode_policy(grants), acl=policy_node_acl(grants))
    return grants


def grant(client: KazooClient, layout: Layout, user: str, password: str, role: Role,
          scopes: Iterable[str] = ()) -> int:
    """Give ``user`` a role on ``scopes`` (none: the whole tree), replacing what it had there (on the
    whole tree: everything it had); returns the nodes updated (0 if nothing changed)."""
    wanted = [validate_scope(scope) for scope in scopes] or [TREE]
    before = policy(client, layout)
    grants = [g for g in before if acl_user(g.acl) != user or (wanted != [TREE] and g.scope not in wanted)]
    grants += [Grant(role_acl(user, password, role), scope) for scope in wanted]
    if {(g.acl, g.scope) for g in grants} == {(g.acl, g.scope) for g in before}:
        return 0
    return apply(client, layout, grants)


def assign(client: KazooClient, layout: Layout, user: str, password: str,
           roles: Iterable[tuple[Role, Iterable[str]]]) -> int:
    """Replace every grant of ``user`` by ``roles`` ((role, scopes) each; no scopes: the whole
    tree); returns the nodes updated (0 if it had exactly those already)."""
    before = policy(client, layout)
    grants = [g for g in before if acl_user(g.acl) != user]
    for role, scopes in roles:
        grants += [Grant(role_acl(user, password, role), scope)
                   for scope in ([validate_scope(scope) for scope in scopes] or [TREE])]
    if {(g.acl, g.scope) for g in grants} == {(g.acl, g.scope) for g in before}:
        return 0
    return apply(client, layout, grants)


def revoke(client: KazooClient, layout: Layout, user: str) -> int:
    """Take every permission of ``user`` away; returns nodes updated."""
    grants = [g for g in policy(client, layout) if acl_user(g.acl) != user]
    if not any("ALL" in g.acl.acl_list and g.scope == TREE for g in grants):
        raise ValueError("refusing to remove the last admin")
    return apply(client, layout, grants)


def apply(client: KazooClient, layout: Layout, grants: list[Grant]) -> int:
    """Set each node's ACL from ``grants``, from the root down, and keep them as the policy."""
    client.set(layout.access, encode_policy(grants))
    client.set_acls(layout.access, policy_node_acl(grants))
    count = 0
    for path in _walk(client, layout.root):
        if path == layout.access:
            continue
        try:
            client.set_acls(path, node_acl(grants, layout.relative(path)))
            count += 1
        except NoNodeError:  # an ephemeral or lock node went away meanwhile
            continue
    return count


def _walk(client: KazooClient, path: str) -> Iterator[str]:
    yield path
    try:
        children = client.get_children(path)
    except NoNodeError:
        return
    for child in children:
        yield from _walk(client, f"{path}/{child}")
