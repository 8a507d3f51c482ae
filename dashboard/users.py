"""Dashboard users, kept in the CMDB with hashed passwords, and their roles.

A user is the CMDB secret ``dashboard/users/<name>`` (:mod:`cmdb.secrets`: no history, readable
by admins and the dashboard's account only) with the value
``{"password_hash": "scrypt:...", "role": "viewer"}``. Users of older versions were config keys
``oam/dashboard/users/<name>``, whose history kept every old hash: :meth:`UserStore.move_legacy`
moves them and removes those keys with their history. The CMDB pages hide both. Saving or
removing a user ends all of that user's sessions (:mod:`dashboard.sessions`).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from cmdb import Cmdb, KeyNotFound
from cmdb.paths import validate_segment

from .sessions import SessionTree

USERS_PREFIX = "oam/dashboard/users"  # the config keys of older versions
USERS_SECRETS = "dashboard/users"
ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD = 8


class UserError(ValueError):
    """A bad user name, role or password; the message says which."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    version: int = field(default=0, compare=False)  # of the user's CMDB record; sessions are tied to it

    def can(self, role: str) -> bool:
        """True if this user's role is ``role`` or above (viewer < operator < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def _key(name: str) -> str:
    try:
        validate_segment(name, "user name")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return f"{USERS_SECRETS}/{name}"


@cache
def _dummy_hash() -> str:
    """A hash of a random password, checked for unknown users so that they take as long as known ones."""
    return generate_password_hash(secrets.token_hex(16))


class UserStore:
    """Users in the CMDB: add or update, check a password, list, remove."""

    def __init__(self, cmdb: Cmdb) -> None:
        self.cmdb = cmdb

    def save(self, name: str, password: str, role: str) -> User:
        check_role(role)
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password too short: at least {MIN_PASSWORD} characters")
        version = self.cmdb.secrets.set(_key(name), {"password_hash": generate_password_hash(password), "role": role})
        SessionTree(self.cmdb).end_all(name)
        return User(name, role, version)

    def _record(self, name: str) -> tuple[dict[str, Any], int] | None:
        try:
            value, version = self.cmdb.secrets.get(_key(name))
        except (KeyNotFound, UserError):
            return None
        if not isinstance(value, dict) or value.get("role") not in ROLES:
            return None
        return value, version

    def get(self, name: str) -> User | None:
        """The user as the CMDB has it now (role and record version), or None."""
        found = self._record(name)
        return User(name, found[0]["role"], found[1]) if found else None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches, else None (also for an unknown or malformed name, after
        checking a dummy hash so that the answer takes as long)."""
        found = self._record(name)
        if found is None:
            check_password_hash(_dummy_hash(), password)
            return None
        value, version = found
        if not check_password_hash(str(value.get("password_hash", "")), password):
            return None
        return User(name, value["role"], version)

    def list(self) -> list[User]:
        out = []
        for name in self.cmdb.secrets.names(USERS_SECRETS):
            found = self._record(name)
            if found is not None:
                out.append(User(name, found[0]["role"]))
        return out

    def remove(self, name: str) -> None:
        self.cmdb.secrets.delete(_key(name))
        SessionTree(self.cmdb).end_all(name)

    def move_legacy(self) -> list[str]:
        """Move users kept as config keys (older versions) to the secrets, and delete those keys
        and their history (which held every old hash); returns the names moved."""
        cmdb, moved = self.cmdb, []
        for entry in cmdb.store.entries(USERS_PREFIX):
            name = entry.key.rsplit("/", 1)[1]
            try:
                cmdb.secrets.get(_key(name))
            except KeyNotFound:
                cmdb.secrets.set(_key(name), entry.value)
            moved.append(name)
        for path in (cmdb.layout.under(USERS_PREFIX), f"{cmdb.layout.history_root}/{USERS_PREFIX}"):
            with cmdb.translated("delete", path):
                cmdb.client.retry(cmdb.client.delete, path, recursive=True)
        return moved
