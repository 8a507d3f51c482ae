"""Token scopes at the collector's doors: ingest tokens (and DSN keys) write, read tokens query, never both."""
from __future__ import annotations

import gzip
import json

from telemetry.ecs import timestamp

GTX = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_an_ingest_token_and_a_dsn_key_cannot_read_traces(collector_app) -> None:
    for headers in ({"Authorization": f"Bearer {collector_app.token}"},
                    {"X-Sentry-Auth": f"Sentry sentry_key={collector_app.token}"}):
        answer = collector_app.client.get(f"/api/traces/{GTX}", headers=headers)
        assert answer.status_code in (401, 403)
    answer = collector_app.client.get(f"/api/traces/{GTX}", headers={"Authorization": f"Bearer {collector_app.token}"})
    assert answer.status_code == 403 and "has scope ingest" in answer.json["error"]
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_a_read_token_cannot_ingest_nor_be_a_dsn_key(collector_app) -> None:
    bearer = {"Authorization": f"Bearer {collector_app.read_token}"}
    line = json.dumps({"_kind": "logs", "@timestamp": timestamp(), "message": "x"}).encode()
    refused = [collector_app.client.post("/v1/ingest", data=gzip.compress(line),
                                         headers={**bearer, "Content-Encoding": "gzip"}),
               collector_app.client.post("/v1/traces", json={}, headers=bearer),
               collector_app.client.post("/v1/logs", json={}, headers=bearer),
               collector_app.client.post("/api/1/store/", json={"message": "x"},
                                         headers={"X-Sentry-Auth": f"Sentry sentry_key={collector_app.read_token}"})]
    assert [answer.status_code for answer in refused] == [403] * 4
    assert "Sentry key 'unit-reader' has scope read" in refused[3].json["error"]
    assert all("needs a token of scope ingest" in answer.json["error"] for answer in refused)


def test_the_local_suite_keeps_a_read_token_for_oam_trace_and_ingest_tokens_for_senders(tmp_path) -> None:
    from collector.auth import TokenStore, suite_tokens_file
    from oam.config import Settings
    from oam.programs import READ_TOKEN, read_token
    from oam.suite_secrets import ensure_token

    settings = Settings(data_dir=tmp_path)
    assert read_token(settings) == []
    store = TokenStore(suite_tokens_file(tmp_path))
    reader = (settings.run_dir / f"{READ_TOKEN}.token").read_text().strip()
    assert store.lookup(reader) == (READ_TOKEN, "read")
    agent = ensure_token(settings, "oam-up-agent")
    assert store.lookup(agent) == ("oam-up-agent", "ingest") and ensure_token(settings, "oam-up-agent") == agent
    assert ensure_token(settings, READ_TOKEN, "read") == reader  # kept across starts
    store.revoke(READ_TOKEN)  # rotation: revoke, and the next start issues a new one
    assert read_token(settings) == [] and store.lookup(reader) is None
    assert store.verify((settings.run_dir / f"{READ_TOKEN}.token").read_text().strip(), "read") == READ_TOKEN
