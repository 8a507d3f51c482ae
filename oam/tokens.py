"""Collector tokens for the pieces `oam up` runs itself (the host agent, the sample's Sentry DSN).

Each token is issued once and kept in clear, mode 600, under ``<data_dir>/run/<name>.token`` so
a restarted suite reuses it; the collector keeps only its hash.
"""
from __future__ import annotations

import os
from pathlib import Path

from .config import Settings


def tokens_file(settings: Settings) -> Path:
    """The collector's token store under the suite's data dir (as `oam collector` uses it)."""
    return settings.data_dir / "collector" / "tokens.json"


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
    kept.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token
