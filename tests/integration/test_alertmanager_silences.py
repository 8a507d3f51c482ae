"""`oam alerts silence` against two real clustered Alertmanagers: add on one, listed by both, expire."""
from __future__ import annotations

import json

from click.testing import CliRunner

from foundation.waiting import wait_until
from oam.cli import cli


def silence(*args: str, urls: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["alerts", "silence", *args], env={"OAM_ALERTMANAGERS": " ".join(urls),
                                                                          "OAM_CONFIG": None})
    return result.exit_code, result.stdout + result.stderr


def listed(urls: list[str], *extra: str) -> list[dict]:
    code, out = silence("ls", "-o", "json", *extra, urls=urls)
    assert code == 0, out
    return json.loads(out)


def test_a_silence_is_added_listed_by_every_peer_and_expired(alertmanagers) -> None:
    first, second = alertmanagers.urls
    unreachable = "http://127.0.0.1:9"
    code, out = silence("add", "alertname=order-errors", "host=~web-.*", "--for", "2h", "-m", "deploying 4.1",
                        "--creator", "alice", urls=[unreachable, first])
    assert code == 0, out
    silence_id = out.strip()

    def on_second() -> dict | None:
        return next((s for s in listed([second]) if s["id"] == silence_id), None)

    row = wait_until(on_second, timeout=20, interval=0.3, what="the silence gossiped to the second peer")
    assert row["state"] == "active" and row["matchers"] == ["alertname=order-errors", "host=~web-.*"]
    assert row["createdBy"] == "alice" and row["comment"] == "deploying 4.1"

    code, out = silence("expire", silence_id, urls=[first])
    assert code == 0, out
    assert silence_id not in [s["id"] for s in listed([first])]
    assert [s["state"] for s in listed([first], "--all") if s["id"] == silence_id] == ["expired"]

    code, out = silence("expire", "not-an-id", urls=[first])
    assert code != 0 and "bad silence id" in out
