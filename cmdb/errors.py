"""The CMDB's errors: each one's message is a single line that names the problem."""
from __future__ import annotations


class CmdbError(Exception):
    """Base class; ``str(error)`` is a one-line message fit for a CLI."""


class InvalidKey(CmdbError, ValueError):
    """A key is not of the form ``environment/service/name``."""


class KeyNotFound(CmdbError, KeyError):
    """The key (or the version asked for) does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "key not found"


class InvalidValue(CmdbError, ValueError):
    """A value is not JSON, or is too large for one znode."""


class SchemaViolation(CmdbError, ValueError):
    """A value does not validate against the schema registered for its key."""


class VersionConflict(CmdbError):
    """Someone else changed the key first; ``current`` is its version now."""

    def __init__(self, key: str, expected: int | None, current: int) -> None:
        self.key, self.expected, self.current = key, expected, current
        wanted = f"expected version {expected}, " if expected is not None else ""
        super().__init__(f"version conflict on {key}: {wanted}current version is {current}"
                         " (it changed since you read it; re-read and retry)")


class PermissionDenied(CmdbError, PermissionError):
    """The credentials in use may not do this (ZooKeeper answered NoAuth)."""


class Unreachable(CmdbError, ConnectionError):
    """ZooKeeper did not answer within the timeout."""


def raise_first_failure(results: list[object]) -> list[object]:
    """Raise the error of a failed multi-op transaction (the real cause, not RolledBackError)."""
    from kazoo.exceptions import RolledBackError

    failures = [r for r in results if isinstance(r, Exception)]
    causes = [r for r in failures if not isinstance(r, RolledBackError)]
    if causes:
        raise causes[0]
    if failures:
        raise failures[0]
    return results
