"""SIGHUP (``systemctl reload``) makes the collector and the dashboard take new settings without
stopping: the same pid, the port answering, good settings in force, bad ones refused in one line.

Each daemon runs as ``python -m oam ...`` on the session's real Elasticsearch (and ZooKeeper for
the dashboard)."""
from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import signal
import threading
from pathlib import Path

import psutil
import pytest
import requests
from chaos_parts import child_env, oam_process

from backing_services.ports import free_port
from collector.auth import TokenStore
from dashboard.testing import PASSWORDS, seeded
from foundation.settings import toml_text
from foundation.waiting import NotReady, wait_until
from telemetry.ecs import timestamp

PREFIX = "oamreload"


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _ingest(url: str, token: str, pad_bytes: int) -> requests.Response:
    line = json.dumps({"_kind": "logs", "@timestamp": timestamp(), "message": "reload", "labels": {"marker": "reload"},
                       "pad": secrets.token_hex(pad_bytes // 2)})
    return requests.post(f"{url}/v1/ingest", data=gzip.compress(line.encode()), timeout=10,
                         headers={"Content-Encoding": "gzip", "Authorization": f"Bearer {token}"})


def _workers(pid: int) -> set[int]:
    return {child.pid for child in psutil.Process(pid).children() if child.is_running()}


class Prober(threading.Thread):
    """Asks ``url`` every 20 ms until stopped; counts the answers and the failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.ok, self.failed = url, 0, 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            if _answers(self.url):
                self.ok += 1
            else:
                self.failed += 1

    def finish(self) -> tuple[int, int]:
        self.halt.set()
        self.join(timeout=5)
        return self.ok, self.failed


def _log_says(process, text: str) -> bool:
    return text in process.log_path.read_text(errors="replace")


@pytest.fixture
def collector_files(tmp_path: Path, es_users):
    """A collector settings file writer and an ingest token."""
    tokens = tmp_path / "tokens.json"
    token = TokenStore(tokens).issue("reload-test")
    config = tmp_path / "collector.toml"
    port = free_port()

    def write(**settings: object) -> None:
        config.write_text(toml_text({
            "host": "127.0.0.1", "port": port, "threads": 2, "tokens_file": tokens, "spool_dir": tmp_path / "spool",
            "index_prefix": PREFIX, "elasticsearch": es_users["collector"].model_dump(exclude_defaults=True),
            **settings}))

    return write, config, f"http://127.0.0.1:{port}", token


@pytest.mark.parametrize("workers", [2, 1], ids=["two-workers", "one-process"])
def test_collector_sighup_applies_good_settings_and_refuses_bad_ones(tmp_path, collector_files, workers):
    write, config, url, token = collector_files
    write(workers=workers, max_body_bytes=1 << 20)
    collector = oam_process("collector", ["collector", "run", "--config", str(config)], tmp_path / "collector")
    collector.start()
    try:
        collector.wait_ready(lambda: _answers(url + "/health"), timeout=60, interval=0.2, what="the collector")
        pid = collector.pid
        assert pid is not None
        before = _workers(pid)
        assert len(before) == (workers if workers > 1 else 0)
        assert all(_ingest(url, token, 20_000).status_code == 200 for _ in range(4))

        prober = Prober(url + "/health")
        prober.start()
        write(workers=workers, max_body_bytes=8192)  # the ~10 kB gzip body no longer fits
        os.kill(pid, signal.SIGHUP)

        def refused() -> bool:
            answers = [_ingest(url, token, 20_000).status_code for _ in range(4)]
            if answers != [413] * 4:
                raise NotReady(f"answers {answers}")
            return True

        wait_until(refused, timeout=60, interval=0.3, what="the new max_body_bytes to be in force on every worker",
                   retry_on=(requests.RequestException,))
        ok, failed = prober.finish()
        assert collector.pid == pid and psutil.pid_exists(pid)
        if workers > 1:
            wait_until(lambda: _log_says(collector, "workers replaced"), timeout=30, interval=0.2,
                       what="the parent to finish replacing its workers")
            replaced = _workers(pid)
            assert len(replaced) == workers and not replaced & before  # every worker is a new process
        assert ok > 0, (ok, failed)
        print(f"reload with {workers} worker(s): /health answered {ok}, failed {failed} during the reload")

        config.write_text("max_body_bytes = 'a lot'\n")  # bad settings: refused, the running ones stay
        os.kill(pid, signal.SIGHUP)
        wait_until(lambda: _log_says(collector, "the running"), timeout=20, interval=0.2,
                   what="the refused reload in the collector's log")
        assert "max_body_bytes" in re.findall(r"SIGHUP: (.*?)the running", collector.log_path.read_text())[-1]
        assert _ingest(url, token, 20_000).status_code == 413 and _ingest(url, token, 100).status_code == 200
        assert collector.pid == pid and (workers == 1 or len(_workers(pid)) == workers)
    finally:
        collector.stop(timeout=30)


def _login(session: requests.Session, url: str) -> None:
    page = session.get(f"{url}/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = session.post(f"{url}/login", timeout=10, allow_redirects=False,
                          data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": csrf})
    assert answer.status_code == 302, answer.status_code


def _logged_in(session: requests.Session, url: str) -> bool:
    answer = session.get(f"{url}/", timeout=10, allow_redirects=False)
    return answer.status_code == 200


def _metrics(url: str, token: str) -> int:
    return requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_dashboard_sighup_takes_new_files_keeps_sessions_and_refuses_bad_ones(tmp_path, es_client, es_users,
                                                                               zookeeper):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token_file = tmp_path / "metrics.token"
    old_token, new_token = secrets.token_hex(24), secrets.token_hex(24)
    token_file.write_text(old_token)
    with seeded(es_client, zookeeper.connection_string, elasticsearch=es_users["dashboard"]) as seed:
        es = seed.config.elasticsearch
        dashboard = oam_process("dashboard", [
            "--data-dir", str(tmp_path / "data"), "dashboard", "run", "--port", str(port), "--es", ",".join(es.hosts),
            "--index-prefix", seed.prefix, "--zk", seed.config.zookeeper, "--cmdb-root", seed.root,
            "--metrics-token-file", str(token_file)], tmp_path / "dashboard")
        dashboard.env = {**child_env(), "OAM_CMDB_USER": seed.config.cmdb_user,
                         "OAM_CMDB_PASSWORD": seed.config.cmdb_password, "OAM_ES_USER": es.username,
                         "OAM_ES_PASSWORD": es.password, "OAM_ES_CA_FILE": es.ca_file}
        dashboard.start()
        try:
            dashboard.wait_ready(lambda: _answers(url + "/health"), timeout=60, interval=0.2, what="the dashboard")
            pid = dashboard.pid
            session = requests.Session()
            _login(session, url)
            assert _logged_in(session, url) and _metrics(url, old_token) == 200 and _metrics(url, new_token) == 401

            prober = Prober(url + "/health")
            prober.start()
            token_file.write_text(new_token)
            os.kill(pid, signal.SIGHUP)
            wait_until(lambda: _metrics(url, new_token) == 200, timeout=30, interval=0.2,
                       what="the dashboard to ask for the new metrics token")
            ok, failed = prober.finish()
            assert _metrics(url, old_token) == 401
            assert failed == 0 and ok > 0, (ok, failed)  # the port never closed
            assert _logged_in(session, url)  # same signing key: no one is logged out
            assert dashboard.pid == pid

            token_file.write_text("short")  # a token the dashboard refuses: the running settings stay
            os.kill(pid, signal.SIGHUP)
            wait_until(lambda: _log_says(dashboard, "the running settings stay"), timeout=20, interval=0.2,
                       what="the refused reload in the dashboard's log")
            assert "too short" in dashboard.log_path.read_text()
            assert _metrics(url, new_token) == 200 and _logged_in(session, url) and dashboard.pid == pid
        finally:
            dashboard.stop(timeout=30)
