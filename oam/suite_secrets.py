"""Secrets for the pieces `oam up` runs itself, made on the first start and kept (mode 600).

* collector tokens (the host agent's and the sample's Sentry DSN key, of scope ingest; ``oam-read``,
  of scope read, for ``oam trace``): issued once and kept in clear under
  ``<data_dir>/run/<name>.token``; the collector keeps only their hash;
* passwords and keys (the CMDB accounts, the dashboard's admin, its session key, the
  Elasticsearch superuser's and each piece's Elasticsearch user's): random, under
  ``<data_dir>/run/<name>``; :func:`cmdb_credentials` gives the CMDB account of a role
  (``oam-suite`` the admin, ``oam-agent``, ``oam-collector``, ``oam-dashboard``, ``oam-deployer``;
  :mod:`oam.cmdb_accounts` says what each may do), :func:`elasticsearch_passwords` the pieces'
  Elasticsearch passwords.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from collector.auth import INGEST, TokenStore, suite_tokens_file
from foundation.suite import ELASTICSEARCH_USERS, elasticsearch_password_file

from .config import Settings


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


def ensure_token(settings: Settings, name: str, scope: str = INGEST) -> str:
    """The clear token for ``name`` of ``scope``: the kept one if the collector still knows it so, else a new one."""
    store = TokenStore(suite_tokens_file(settings.data_dir))
    kept = settings.run_dir / f"{name}.token"
    if kept.exists():
        token = kept.read_text().strip()
        if store.verify(token, scope) == name:
            return token
    if any(record.name == name for record in store.list()):
        store.revoke(name)
    token = store.issue(name, scope)
    write_private(kept, token)
    return token


CMDB_ROLES = ("admin", "agent", "collector", "dashboard", "deployer", "alerts")


def cmdb_credentials(settings: Settings, role: str = "admin") -> dict[str, str]:
    """The CMDB account of one of the suite's roles, made on first start (the admin's may come from
    the settings' [cmdb] user and password)."""
    if role not in CMDB_ROLES:
        raise ValueError(f"unknown CMDB role {role!r} (known: {', '.join(CMDB_ROLES)})")
    if role == "admin":
        user = settings.cmdb.user or "oam-suite"
        password = settings.cmdb.password or kept_secret(settings, "cmdb-suite.password")[0]
    else:
        user, password = f"oam-{role}", kept_secret(settings, f"cmdb-{role}.password")[0]
    return {"OAM_CMDB_USER": user, "OAM_CMDB_PASSWORD": password}


def elasticsearch_admin_password(settings: Settings, make: bool = True) -> str:
    """The superuser's password: ``[elasticsearch] password`` if set, else the kept one (made unless ``make`` is
    False, then "" while there is none)."""
    if settings.elasticsearch.password:
        return settings.elasticsearch.password
    path = elasticsearch_password_file(settings.data_dir, "admin")
    if make:
        return kept_secret(settings, path.name)[0]
    return path.read_text().strip() if path.exists() else ""


def elasticsearch_passwords(settings: Settings) -> dict[str, str]:
    """Each piece's Elasticsearch password (``collector``, ``dashboard``, ``retention``, ``alerts``), made on the first start."""
    return {piece: kept_secret(settings, elasticsearch_password_file(settings.data_dir, piece).name)[0]
            for piece in ELASTICSEARCH_USERS}
