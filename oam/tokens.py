"""Secrets for the pieces `oam up` runs itself, made on the first start and kept (mode 600).

* collector tokens (the host agent's, the sample's Sentry DSN key): issued once and kept in
  clear under ``<data_dir>/run/<name>.token``; the collector keeps only their hash;
* passwords and keys (the suite's CMDB account, the dashboard's admin, its session key):
  random, under ``<data_dir>/run/<name>``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from .config import Settings


def tokens_file(settings: Settings) -> Path:
    """The collector's token store under the suite's data dir (as `oam collector` uses it)."""
    return settings.data_dir / "collector" / "tokens.json"


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")


def kept_secret(settings: Settings, name: str) -> tuple[str, bool]:
    """(the secret in ``<run_dir>/<name>``, whether it was just made)."""
    path = settings.run_dir / name
    if path.exists():
        return path.read_text().strip(), False
    value = secrets.token_urlsafe(24)
    write_private(path, value)
    return value, True


def ensure_token(settings: Settings, name: str) -> str:
    """The clear token for ``name``: the kept one if the collector still knows it, else a new one."""
    from collector.auth import TokenStore

    store = TokenStore(tokens_file(settings))
    kept = settings.run_dir / f"{name}.token"
    if kept.exists():
        token = kept.read_text().strip()
        if store.verify(token) == name:
            return token
    if any(record.name == name for record in store.list()):
        store.revoke(name)
    token = store.issue(name)
    write_private(kept, token)
    return token
