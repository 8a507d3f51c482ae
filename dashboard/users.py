"""Dashboard users, kept in the CMDB with hashed passwords, and their roles.

A user is the CMDB key ``oam/dashboard/users/<name>`` with the value
``{"password_hash": "scrypt:...", "role": "viewer"}``. The CMDB pages hide that subtree. Saving
or removing a user ends all of that user's sessions (:mod:`dashboard.sessions`).
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

USERS_PREFIX = "oam/dashboard/users"
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
    return f"{USERS_PREFIX}/{name}"


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
        record = self.cmdb.store.set(_key(name), {"password_hash": generate_password_hash(password), "role": role},
                                     comment=f"dashboard user {name} ({role})")
        SessionTree(self.cmdb).end_all(name)
        return User(name, role, record.version)

    def _record(self, name: str) -> tuple[dict[str, Any], int] | None:
        try:
            entry = self.cmdb.store.get(_key(name))
        except (KeyNotFound, UserError):
            return None
        value: Any = entry.value
        if not isinstance(value, dict) or value.get("role") not in ROLES:
            return None
        return value, entry.version

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
        for entry in self.cmdb.store.entries(USERS_PREFIX):
            value: Any = entry.value
            if isinstance(value, dict) and value.get("role") in ROLES:
                out.append(User(entry.key.rsplit("/", 1)[1], value["role"]))
        return out

    def remove(self, name: str) -> None:
        self.cmdb.store.delete(_key(name), comment=f"dashboard user {name} removed")
        SessionTree(self.cmdb).end_all(name)
