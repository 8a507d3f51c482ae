"""Per-agent bearer tokens, stored hashed in a local JSON file, each with one scope.

Usage::

    store = TokenStore(Path("/var/lib/oam/collector/tokens.json"))
    token = store.issue("web-01")                # scope "ingest"; shown once; only its SHA-256 is kept
    store.verify(token)                          # -> "web-01"
    store.verify(token, "read")                  # -> None: an ingest token does not read
    reader = store.issue("oam-cli", scope="read")
    store.revoke("web-01")

Scopes: ``ingest`` writes (agent batches, OTLP, and as a Sentry DSN key) and ``read`` queries
(the trace API); neither does the other's work. A token stored before scopes existed has none in
the file and is read as ``ingest`` (the only use there was), so running suites keep working.

Tokens are 192 random bits, so a plain SHA-256 is a safe one-way hash for them. The file is
re-read when it changes, so a token issued or revoked by ``oam collector token`` takes effect in a
running collector without a restart. Several collectors may share the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.clock import utc_now_iso

TOKEN_PREFIX = "oam"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
INGEST, READ = "ingest", "read"
SCOPES = (INGEST, READ)
DEFAULT_SCOPE = INGEST  # also the scope of an entry written before scopes existed


class TokenError(ValueError):
    """A token name is invalid, already taken or unknown."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    name: str
    created: str
    prefix: str
    scope: str = DEFAULT_SCOPE


def bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def suite_state_dir(data_dir: Path) -> Path:
    """Where the collector that ``oam`` runs keeps its state (its token store, its spool)."""
    return data_dir / "collector"


def suite_tokens_file(data_dir: Path) -> Path:
    """The token store of the collector that ``oam`` runs, shared by ``oam up`` and the dashboard."""
    return suite_state_dir(data_dir) / "tokens.json"


class TokenStore:
    """Issued tokens by name; the file holds ``{"tokens": {name: {"sha256", "created", "prefix", "scope"}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, tuple[str, str]] = {}

    # -- file -------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"tokens": {}}
        except (OSError, ValueError) as exc:
            raise TokenError(f"cannot read token file {self.path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), dict):
            raise TokenError(f"token file {self.path} is not a token store")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    # -- administration -----------------------------------------------------------------
    def issue(self, name: str, scope: str = DEFAULT_SCOPE) -> str:
        """Create a token for ``name`` with ``scope`` and return it (the only time it is seen in clear)."""
        if scope not in SCOPES:
            raise TokenError(f"invalid scope {scope!r}: use {' or '.join(SCOPES)}")
        if not _NAME.match(name):
            raise TokenError(f"invalid token name {name!r}: use letters, digits, '.', '_' or '-' (max 128)")
        with self._lock:
            data = self._read()
            if name in data["tokens"]:
                raise TokenError(f"a token named {name!r} already exists; revoke it first")
            token = f"{TOKEN_PREFIX}_{secrets.token_hex(24)}"
            data["tokens"][name] = {"sha256": hash_token(token), "prefix": token[:8],
                                    "created": utc_now_iso(), "scope": scope}
            self._write(data)
        return token

    def revoke(self, name: str) -> None:
        with self._lock:
            data = self._read()
            if name not in data["tokens"]:
                raise TokenError(f"no token named {name!r}")
            del data["tokens"][name]
            self._write(data)

    def list(self) -> list[TokenRecord]:
        tokens = self._read()["tokens"]
        return [TokenRecord(name, entry.get("created", ""), entry.get("prefix", ""), entry.get("scope", DEFAULT_SCOPE))
                for name, entry in sorted(tokens.items())]

    # -- checking -----------------------------------------------------------------------
    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        tokens = self._read()["tokens"] if stamp else {}
        self._by_hash = {entry["sha256"]: (name, entry.get("scope", DEFAULT_SCOPE))
                         for name, entry in tokens.items() if "sha256" in entry}
        self._stamp = stamp

    def lookup(self, token: str | None) -> tuple[str, str] | None:
        """``(name, scope)`` of a token, or None for a missing, unknown or revoked token."""
        if not token:
            return None
        with self._lock:
            self._refresh()
            return self._by_hash.get(hash_token(token))

    def verify(self, token: str | None, scope: str | None = None) -> str | None:
        """The name the token was issued to, or None for a missing, unknown or revoked token, or one
        whose scope is not ``scope`` (None: any scope)."""
        found = self.lookup(token)
        if found is None or (scope is not None and found[1] != scope):
            return None
        return found[0]
