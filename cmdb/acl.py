"""Digest ACLs: who may write the CMDB tree and who may only read it.

The policy is one ACL list that every node of the tree carries. It is kept as JSON in
``<root>/access``, which admins may change and writers may read (ZooKeeper hides the digests of
an ACL from clients without the ADMIN permission, so writers learn the list from there to give
the nodes they create the same ACL; readers cannot see it). The first account that writes to
an empty tree becomes its admin (all permissions); it then grants others a role::

    grant(client, layout, "deployer", "s3cret", role="writer")
    grant(client, layout, "dashboard", "pa55", role="reader")

ZooKeeper keeps only ``user:base64(sha1(user:password))`` in an ACL, never the password.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.security import ACL, Id, Permissions, make_digest_acl

from .paths import Layout

Role = Literal["admin", "writer", "reader"]
ROLES: tuple[Role, ...] = ("admin", "writer", "reader")


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
    perms = entry.acl_list
    if "ALL" in perms:
        return "admin"
    return "writer" if "WRITE" in perms else "reader" if perms == ["READ"] else "+".join(perms).lower()


def policy(client: KazooClient, layout: Layout) -> list[ACL]:
    """The ACL list every CMDB node carries (admins and writers may read it)."""
    data, _ = client.get(layout.access)
    return decode_policy(data)


def decode_policy(data: bytes) -> list[ACL]:
    return [ACL(entry["perms"], Id(entry["scheme"], entry["id"])) for entry in json.loads(data)]


def encode_policy(entries: list[ACL]) -> bytes:
    return json.dumps([{"perms": e.perms, "scheme": e.id.scheme, "id": e.id.id} for e in entries]).encode()


def policy_node_acl(entries: list[ACL]) -> list[ACL]:
    """Who may see the policy node: admins (all) and writers (read)."""
    out = []
    for entry in entries:
        if entry.perms & Permissions.ADMIN:
            out.append(entry)
        elif entry.perms & Permissions.WRITE:
            out.append(ACL(Permissions.READ, entry.id))
    return out


def bootstrap(client: KazooClient, layout: Layout, user: str, password: str) -> list[ACL]:
    """Create the root with ``user`` as its only admin; returns the policy."""
    entries = [role_acl(user, password, "admin")]
    client.ensure_path(layout.root, entries)
    client.create(layout.access, encode_policy(entries), acl=policy_node_acl(entries))
    return entries


def grant(client: KazooClient, layout: Layout, user: str, password: str, role: Role) -> int:
    """Give ``user`` a role on the whole tree (replacing any role it had); returns nodes updated."""
    entries = [entry for entry in policy(client, layout) if acl_user(entry) != user]
    entries.append(role_acl(user, password, role))
    return apply(client, layout, entries)


def revoke(client: KazooClient, layout: Layout, user: str) -> int:
    """Take every permission of ``user`` away; returns nodes updated."""
    entries = [entry for entry in policy(client, layout) if acl_user(entry) != user]
    if not any("ALL" in entry.acl_list for entry in entries):
        raise ValueError("refusing to remove the last admin")
    return apply(client, layout, entries)


def apply(client: KazooClient, layout: Layout, entries: list[ACL]) -> int:
    """Set ``entries`` on the root and every node below it, and use them for new nodes."""
    client.set(layout.access, encode_policy(entries))
    client.set_acls(layout.access, policy_node_acl(entries))
    count = 0
    for path in _walk(client, layout.root):
        if path == layout.access:
            continue
        try:
            client.set_acls(path, entries)
            count += 1
        except NoNodeError:  # an ephemeral or lock node went away meanwhile
            continue
    client.default_acl = entries
    return count


def _walk(client: KazooClient, path: str) -> Iterator[str]:
    yield path
    try:
        children = client.get_children(path)
    except NoNodeError:
        return
    for child in children:
        yield from _walk(client, f"{path}/{child}")
