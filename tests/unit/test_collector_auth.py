"""Bearer tokens: issued once, stored hashed, revocable while collectors run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.auth import TokenError, TokenStore, bearer_token, hash_token


def test_issue_verify_revoke(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    token = store.issue("web-01")
    assert token not in (tmp_path / "tokens.json").read_text()  # only the hash is kept
    running = TokenStore(tmp_path / "tokens.json")  # another collector sharing the file
    assert running.verify(token) == "web-01"
    assert running.verify(token + "x") is None and running.verify(None) is None
    store.revoke("web-01")
    assert running.verify(token) is None
    assert [record.name for record in store.list()] == []


def test_a_token_has_one_scope_and_an_old_entry_without_one_is_ingest(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    ingest, read = store.issue("agent"), store.issue("oncall", scope="read")
    assert store.verify(ingest, "ingest") == "agent" and store.verify(ingest, "read") is None
    assert store.verify(read, "read") == "oncall" and store.verify(read, "ingest") is None
    assert store.lookup(read) == ("oncall", "read")
    with pytest.raises(TokenError, match="invalid scope 'admin'"):
        store.issue("x", scope="admin")
    old = TokenStore(tmp_path / "old.json")  # written before scopes existed
    (tmp_path / "old.json").write_text(json.dumps({"tokens": {"web-01": {
        "sha256": hash_token("oam_old"), "prefix": "oam_old", "created": "2026-11-01T00:00:00Z"}}}))
    assert old.lookup("oam_old") == ("web-01", "ingest") and old.list()[0].scope == "ingest"


def test_bad_names_and_duplicates_are_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.issue("a")
    with pytest.raises(TokenError, match="already exists"):
        store.issue("a")
    with pytest.raises(TokenError, match="invalid token name"):
        store.issue("bad name/with slash")
    with pytest.raises(TokenError, match="no token named"):
        store.revoke("zzz")


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token("Bearer ") is None and bearer_token(None) is None
