"""`oam up`, `oam status`, `oam down` as a user runs them, on free ports in a scratch data dir."""
from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest
import requests
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from local_suite import processes_under, suite_config

from alerts.evaluator import evaluators
from backing_services.distribution import ES_VERSION
from backing_services.ports import port_in_use
from backing_services.zookeeper import four_letter_word
from cmdb import Cmdb
from foundation.waiting import NotReady, wait_until
from oam.config import load as load_settings


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "(gone)"


def running(data_dir: Path) -> bool:
    """True once `oam up` has started everything (its state file says so)."""
    try:
        return json.loads((data_dir / "run" / "stack.json").read_text())["phase"] == "running"
    except (OSError, ValueError, KeyError):
        return False


def started(up: subprocess.Popen, suite) -> bool:
    """Wait (up to 180 s) until the foreground `oam up` says it is running, or has exited."""
    wait_until(lambda: running(suite.data_dir) or up.poll() is not None, timeout=180, interval=0.3,
               what="oam up to run or exit")
    return running(suite.data_dir)


def nothing_left_under(path: Path) -> bool:
    left = processes_under(path)
    if left:
        raise NotReady(f"still running: {[_cmdline(pid) for pid in left]}")
    return True


@pytest.fixture
def suite(run_dir: Path, request):
    """A config with free ports and a data dir of its own; `oam` runs against it."""
    data_dir = run_dir / f"suite-{request.node.name[:30]}"
    config = run_dir / f"{request.node.name[:30]}.toml"
    config.write_text(suite_config(data_dir))

    def oam(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "oam", "--config", str(config), *args],
                              capture_output=True, text=True, timeout=300, **kwargs)

    up_log = run_dir / f"{request.node.name[:30]}-up.log"

    def popen_up(ignore_sigint: bool = False) -> subprocess.Popen:
        """`oam up` in the foreground; its output goes to a file (a pipe no one reads would fill).

        ``ignore_sigint``: started in a session of its own with SIGINT ignored, as `oam up &` in a script."""
        def ignored() -> None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        with open(up_log, "w") as output:
            return subprocess.Popen([sys.executable, "-m", "oam", "--config", str(config), "up"],
                                    stdout=output, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=ignore_sigint, preexec_fn=ignored if ignore_sigint else None)

    def up_output() -> str:
        return up_log.read_text(errors="replace") if up_log.exists() else ""

    oam.popen_up = popen_up
    oam.up_output = up_output
    oam.data_dir = data_dir
    settings = load_settings(config)
    oam.es_port, oam.zk_port = settings.elasticsearch.port, settings.zookeeper.port
    oam.gateway_port, oam.dashboard_port = settings.ports.gateway, settings.ports.dashboard
    oam.collector_port = settings.ports.collector
    yield oam
    oam("down")
    for pid in processes_under(data_dir):
        os.kill(pid, signal.SIGKILL)


def test_up_detached_reports_healthy_services_and_down_leaves_nothing(suite):
    started = suite("up", "--detach")
    assert started.returncode == 0, started.stderr + started.stdout
    assert "running in the background" in started.stdout

    status = suite("status")
    assert status.returncode == 0, status.stdout
    assert f"version {ES_VERSION}" in status.stdout
    assert "ruok -> imok" in status.stdout
    assert four_letter_word(suite.zk_port, "ruok") == "imok"
    for piece in ("collector", "collector-2", "dashboard", "smtp", "alertmanager", "alerts", "redis", "backend", "worker", "gateway", "agent", "load",
                  "ssh-host-1", "ssh-host-2", "ssh-host-3", "sandbox-reads"):
        assert any(line.split()[0] == piece and "healthy" in line for line in status.stdout.splitlines()), piece
    as_json = suite("status", "-o", "json")
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    pieces = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert all(row["healthy"] is True for row in pieces.values()) and len(pieces) == len(status.stdout.splitlines())
    assert pieces["elasticsearch"]["detail"].endswith(f"version {ES_VERSION}")
    assert pieces["zookeeper"] == {"name": "zookeeper", "address": f"127.0.0.1:{suite.zk_port}", "healthy": True,
                                   "detail": "ruok -> imok"}
    # The sample service answers through the gateway, under the gentle load oam up started.
    import requests
    order = {"customer": "tour", "items": [{"sku": "a", "qty": 1, "price": 2}]}
    reply = requests.put(f"http://127.0.0.1:{suite.gateway_port}/api/orders/up-1", json=order, timeout=10)
    assert reply.status_code in (200, 201) and len(reply.headers["X-Trace-Id"]) == 32

    # The printed login works on the dashboard; the secrets it needs are private to the owner.
    password_file = suite.data_dir / "run" / "dashboard-admin.password"
    assert f"password: $(cat {password_file})" in started.stdout
    assert password_file.stat().st_mode & 0o077 == 0
    dashboard = f"http://127.0.0.1:{suite.dashboard_port}"
    session = requests.Session()
    form = session.get(f"{dashboard}/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    session.post(f"{dashboard}/login", data={"username": "admin", "password": password_file.read_text().strip(),
                                             "csrf_token": csrf}, timeout=10)
    assert "Overview" in session.get(f"{dashboard}/", timeout=10).text
    assert session.get(f"{dashboard}/login", timeout=10).url != f"{dashboard}/"  # sanity: it is a real page
    assert_zookeeper_closed_and_each_piece_on_its_own_account(suite)
    mail = suite("alerts", "mail")  # the local SMTP server's mailbox, found from the settings
    assert mail.returncode == 0, mail.stderr

    # Elasticsearch is closed: TLS with the suite's CA, no anonymous access, no wildcard deletes.
    es_url, ca = f"https://127.0.0.1:{suite.es_port}", str(suite.data_dir / "elasticsearch-ca" / "ca.crt")
    assert requests.get(f"{es_url}/_cluster/health", verify=ca, timeout=10).status_code == 401
    admin = ("oam-admin", (suite.data_dir / "run" / "elasticsearch-admin.password").read_text().strip())
    refused = requests.delete(f"{es_url}/_all", verify=ca, auth=admin, timeout=10)
    assert refused.status_code == 400 and "Wildcard expressions or all indices are not allowed" in refused.text
    for secret in ("elasticsearch-ca/ca.key", "elasticsearch-ca/ca.crt", "run/elasticsearch-collector.password",
                   "run/elasticsearch-dashboard.password", "run/elasticsearch-retention.password"):
        assert (suite.data_dir / secret).stat().st_mode & 0o077 == 0, secret
    # The collector and the dashboard each work as their own user: a line in, the same line on the dashboard.
    logs = suite.data_dir / "suite" / "logs"
    assert "(user 'oam-collector')" in (logs / "collector.log").read_text()
    assert "(user 'oam-dashboard')" in (logs / "dashboard.log").read_text()
    token = (suite.data_dir / "run" / "oam-up-agent.token").read_text().strip()
    line = json.dumps({"_kind": "logs", "_id": "up-secured-1", "@timestamp": datetime.now(timezone.utc).isoformat(),
                       "message": "secured ingest reaches the dashboard", "service.name": "up-test"})
    ingest = requests.post(f"http://127.0.0.1:{suite.collector_port}/v1/ingest", data=gzip.compress(line.encode()),
                           headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"}, timeout=10)
    assert ingest.status_code == 200, ingest.text

    def on_the_dashboard() -> bool:
        found = session.get(f"{dashboard}/api/logs", params={"q": "secured ingest reaches", "from": "now-1h"},
                            timeout=10).json()
        return any(row["message"] == "secured ingest reaches the dashboard" for row in found["lines"])

    wait_until(on_the_dashboard, timeout=30, interval=0.5, what="the ingested line on the dashboard")

    again = suite("up", "--detach")
    assert again.returncode == 1 and "already running" in again.stdout + again.stderr

    stopped = suite("down")
    assert stopped.returncode == 0 and "stopped: oam up" in stopped.stdout
    wait_until(lambda: nothing_left_under(suite.data_dir), timeout=30, interval=0.3, what="the services to stop")
    assert not port_in_use(suite.es_port) and not port_in_use(suite.zk_port)
    assert suite("status").returncode == 1
    down = json.loads(suite("status", "-o", "json").stdout)
    assert down and not any(row["healthy"] for row in down)
    assert suite("down").stdout.strip() == "nothing was running."


def assert_zookeeper_closed_and_each_piece_on_its_own_account(suite) -> None:
    """The root refuses a client without an account, only ruok/srvr answer, and the agent and the
    dashboard run with their own CMDB accounts (the agent registered itself, the dashboard logged
    the admin in reading its hash from the secrets)."""
    raw = KazooClient(hosts=f"127.0.0.1:{suite.zk_port}")
    raw.start(timeout=15)
    try:
        with pytest.raises(NoAuthError):
            raw.create("/anything", b"x")
    finally:
        raw.stop()
        raw.close()
    assert "not in the whitelist" in four_letter_word(suite.zk_port, "mntr")
    assert "Mode: standalone" in four_letter_word(suite.zk_port, "srvr")
    run = suite.data_dir / "run"
    for role in ("suite", "agent", "collector", "dashboard", "deployer", "alerts"):
        assert (run / f"cmdb-{role}.password").stat().st_mode & 0o077 == 0, role
    assert 'user = "oam-agent"' in (run / "agent.toml").read_text()
    services = json.loads((run / "stack.json").read_text())["services"]
    environ = Path(f"/proc/{services['dashboard']['pid']}/environ").read_bytes().split(b"\0")
    assert b"OAM_CMDB_USER=oam-dashboard" in environ
    admin = Cmdb(f"127.0.0.1:{suite.zk_port}", user="oam-suite", password=(run / "cmdb-suite.password").read_text()
                 .strip(), root="/oam/cmdb")
    try:
        assert ("oam-agent", "writer on hosts") in admin.access()
        wait_until(lambda: socket.gethostname() in admin.inventory.live(), timeout=60, interval=0.5,
                   what="the agent to register itself with its own account")
        assert admin.store.keys("oam") == []  # dashboard users are secrets, not keys with history
        # Alerting: the default rules are keys with history; the evaluator, on its own account, is the active one.
        assert {"development/alerts/gateway-error-rate", "development/alerts/backend-latency-p95",
                "development/alerts/host-down"} <= set(admin.store.keys("development/alerts"))
        assert ("oam-alerts", "writer on alert-state") in admin.access()
        alerts_env = Path(f"/proc/{services['alerts']['pid']}/environ").read_bytes().split(b"\0")
        assert b"OAM_CMDB_USER=oam-alerts" in alerts_env
        wait_until(lambda: evaluators(admin, "development") == ["oam-up"], timeout=30, interval=0.5,
                   what="the suite's evaluator to be the active one")
    finally:
        admin.close()


def test_ctrl_c_stops_everything(suite):
    """Also when SIGINT came ignored, as for `oam up &` in a script (Python then leaves it ignored)."""
    up = suite.popen_up(ignore_sigint=True)
    try:
        assert started(up, suite), f"suite did not start:\n{suite.up_output()[-3000:]}"
        assert suite("status").returncode == 0
        up.send_signal(signal.SIGINT)
        up.wait(timeout=90)
    finally:
        if up.poll() is None:
            up.kill()
    output = suite.up_output()
    assert up.returncode == 0, output
    assert "stopped." in output
    assert not processes_under(suite.data_dir)


def dashboard_session(suite) -> requests.Session:
    """A session logged in to the suite's dashboard as its admin."""
    dashboard = f"http://127.0.0.1:{suite.dashboard_port}"
    session = requests.Session()
    form = session.get(f"{dashboard}/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    password = (suite.data_dir / "run" / "dashboard-admin.password").read_text().strip()
    session.post(f"{dashboard}/login", data={"username": "admin", "password": password, "csrf_token": csrf},
                 timeout=10)
    return session


def test_pieces_killed_under_up_are_restarted_alone_and_no_log_line_is_lost(suite):
    """kill -9 of a collector, the agent and the dashboard: each is back, nothing else stopped, the
    overview counts the restarts, the restarts are change events, every line of a tailed file arrives."""
    up = suite.popen_up()
    try:
        assert started(up, suite), f"suite did not start:\n{suite.up_output()[-3000:]}"
        state = json.loads((suite.data_dir / "run" / "stack.json").read_text())["services"]
        before = {name: service["pid"] for name, service in state.items()}
        tailed = suite.data_dir / "sample" / "telemetry" / "survive.jsonl"
        written, stop_writing = [], threading.Event()

        def write_lines() -> None:
            with open(tailed, "a") as out:
                while not stop_writing.is_set():
                    line = {"_kind": "logs", "@timestamp": datetime.now(timezone.utc).isoformat(),
                            "message": f"survive line {len(written)}", "service": {"name": "survive-test"}}
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    written.append(line)
                    stop_writing.wait(0.02)

        writer = threading.Thread(target=write_lines, daemon=True)
        writer.start()
        killed = ("collector-2", "agent", "dashboard")
        for name in killed:
            os.kill(before[name], signal.SIGKILL)
            time.sleep(0.5)

        def back() -> dict:
            services = json.loads((suite.data_dir / "run" / "stack.json").read_text())["services"]
            waiting = [n for n in killed if services[n]["restarts"] < 1 or services[n]["state"] != "running"]
            if waiting:
                raise NotReady(f"not back yet: {waiting}")
            return services

        began = time.monotonic()
        services = wait_until(back, timeout=60, interval=0.3, what="the killed pieces to be restarted")
        print(f"the three killed pieces were back within {time.monotonic() - began:.1f}s")
        time.sleep(2)  # long enough for a wrongly stopped piece to show
        stop_writing.set()
        writer.join()
        for name in killed:
            assert services[name]["pid"] != before[name] and services[name]["restarts"] == 1, name
            assert services[name]["last_exit"] == -signal.SIGKILL, name
        for name, pid in before.items():
            if name not in killed:
                log = suite.data_dir / "suite" / "logs" / f"{name}.log"
                assert services[name]["pid"] == pid and services[name]["restarts"] == 0, (
                    name, services[name], log.read_text(errors="replace")[-3000:] if log.exists() else "")
                assert psutil.pid_exists(pid), name
        status = suite("status")
        assert status.returncode == 0, status.stdout
        for name in killed:
            assert any(line.split()[0] == name and "restarted 1x" in line for line in status.stdout.splitlines())
        output = suite.up_output()
        assert "collector-2 exited (code -9); restarting it in 1s" in output
        assert "exited unexpectedly" not in output

        session = dashboard_session(suite)
        dashboard = f"http://127.0.0.1:{suite.dashboard_port}"
        pieces = {p["name"]: p for p in session.get(f"{dashboard}/api/overview", timeout=30).json()["pieces"]}
        assert {name: pieces[name]["restarts"] for name in killed} == {name: 1 for name in killed}
        assert pieces["elasticsearch"]["restarts"] == 0 and pieces["elasticsearch"]["state"] == "running"
        assert '<table id="pieces">' in session.get(f"{dashboard}/", timeout=30).text

        es_url, ca = f"https://127.0.0.1:{suite.es_port}", str(suite.data_dir / "elasticsearch-ca" / "ca.crt")
        admin = ("oam-admin", (suite.data_dir / "run" / "elasticsearch-admin.password").read_text().strip())

        def count(index: str, query: dict) -> int:
            requests.post(f"{es_url}/{index}/_refresh", verify=ca, auth=admin, timeout=30)
            answer = requests.post(f"{es_url}/{index}/_count", json={"query": query}, verify=ca, auth=admin,
                                   timeout=30)
            return answer.json().get("count", 0) if answer.ok else 0

        survive = {"term": {"service.name": "survive-test"}}
        wait_until(lambda: count("oam-logs-*", survive) >= len(written), timeout=90, interval=1,
                   what=f"the {len(written)} lines written during the kills in Elasticsearch")
        assert count("oam-logs-*", survive) == len(written)
        print(f"{len(written)} lines written during the kills, {len(written)} documents in Elasticsearch")
        restarts = {"bool": {"filter": [{"term": {"event.action": "restart"}},
                                        {"terms": {"change.target": list(killed)}}]}}
        wait_until(lambda: count("oam-changes-*", restarts) == len(killed), timeout=60, interval=1,
                   what="the three restarts as change events")
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=120)
    assert up.returncode == 0, suite.up_output()[-3000:]


def test_a_killed_up_takes_its_services_with_it_and_the_next_up_recovers(suite):
    up = suite.popen_up()
    assert started(up, suite), f"suite did not start:\n{suite.up_output()[-3000:]}"
    up.kill()  # SIGKILL: no clean-up code runs
    up.wait()
    wait_until(lambda: nothing_left_under(suite.data_dir), timeout=60, interval=0.3,
               what="the services to die with oam up")

    # Stale state file, pid files and data dir are all still there; a new run copes.
    restarted = suite("up", "--detach")
    assert restarted.returncode == 0, restarted.stderr + restarted.stdout
    assert suite("status").returncode == 0
    assert suite("down").returncode == 0


def test_a_port_taken_by_another_program_is_named(suite):
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", suite.zk_port))
    blocker.listen()
    try:
        result = suite("up")
    finally:
        blocker.close()
    assert result.returncode == 1
    assert f"zookeeper port {suite.zk_port}" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
