"""The dashboard's JSON API and pages against the real Elasticsearch and ZooKeeper."""
from __future__ import annotations

import base64
import re

import pytest

from dashboard.testing import PASSWORDS, form_login, make_app, seeded
from foundation.waiting import wait_until
from telemetry.ecs import ServiceInfo, log_document
from telemetry.templates import index_name


@pytest.fixture(scope="module")
def seed(es_client, es_users, zookeeper, tmp_path_factory):
    tokens = tmp_path_factory.mktemp("dashboard-tokens") / "tokens.json"
    with seeded(es_client, zookeeper.connection_string, tokens_file=tokens,
                elasticsearch=es_users["dashboard"]) as seed:
        yield seed


@pytest.fixture(scope="module")
def app(seed):
    app = make_app(seed)
    yield app
    app.extensions["oam.connections"].close()


@pytest.fixture(scope="module")
def viewer(app):
    client = app.test_client()
    login(client, "viewer")
    return client


def basic(role: str) -> dict[str, str]:
    token = base64.b64encode(f"{role}:{PASSWORDS[role]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


login = form_login


def test_login_needs_the_right_password_and_a_csrf_token(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"username": "viewer", "password": "wrong-password", "csrf_token": token}).status_code == 401
    assert client.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"]}).status_code == 400
    assert client.get("/api/logs").status_code == 401
    login(client, "viewer")
    assert client.get("/api/logs").status_code == 200


def test_security_headers_on_every_answer(app):
    answer = app.test_client().get("/login")
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_session_expires_after_the_idle_limit(app):
    client = app.test_client()
    login(client, "viewer")
    assert client.get("/logs").status_code == 200
    with client.session_transaction() as session:  # as if the last request was 31 minutes ago
        session["seen"] -= 31 * 60
    answer = client.get("/logs")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert "session expired" in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert client.get("/api/logs").status_code == 401  # the session is gone, not only this request


def test_trace_by_gtx_has_every_hop(app, seed, viewer):
    answer = app.test_client().get(f"/api/traces/{seed.trace_id}", headers=basic("viewer"))
    assert answer.status_code == 200
    trace = answer.json
    assert trace["counts"] == {"transactions": 3, "spans": 3, "logs": 4, "errors": 1}
    assert trace["services"] == ["backend", "gateway", "worker"]
    assert trace["slowest"]["name"] == "shard insert"
    page = viewer.get(f"/traces/{seed.trace_id}").get_data(as_text=True)
    assert page.count('class="row kind-transaction') == 3 and "slowest" in page


def test_bad_gtx_bad_range_unknown_host_are_4xx_never_500(app, viewer):
    client = app.test_client()
    assert client.get("/api/traces/not-a-gtx", headers=basic("viewer")).status_code == 400
    assert client.get("/api/traces/" + "ab" * 16, headers=basic("viewer")).status_code == 404
    assert client.get("/api/logs?from=yesterday-ish", headers=basic("viewer")).status_code == 400
    assert client.get("/api/logs?from=now&to=now-1h", headers=basic("viewer")).status_code == 400
    assert client.get("/api/hosts/nope/metrics", headers=basic("viewer")).status_code == 404
    page = viewer.get("/traces/zzz")
    assert page.status_code == 400 and "not a GTX" in page.get_data(as_text=True)
    page = viewer.get("/hosts/nope")
    assert page.status_code == 404 and "unknown host" in page.get_data(as_text=True)


def test_one_warning_level_finds_lines_indexed_as_warn_before_levels_were_canonical(app, seed, es_client):
    service = ServiceInfo("levels", host_name="web-9")
    old = log_document(service, "disk almost full", "warning", ids=None)
    old["log"]["level"] = "warn"  # as the host agent wrote it before
    new = log_document(service, "disk almost full", "WARN", ids=None)
    assert new["log"]["level"] == "warning"
    for number, doc in enumerate((old, new)):
        es_client.index(index=index_name("logs", prefix=seed.prefix), id=f"levels-{number}", document=doc)
    es_client.indices.refresh(index=f"{seed.prefix}-logs-*")
    client = app.test_client()
    for level in ("warning", "WARN"):
        found = client.get(f"/api/logs?service=levels&level={level}&from=now-1h", headers=basic("viewer")).json
        assert sorted(line["level"] for line in found["lines"]) == ["warn", "warning"], level
    assert client.get("/api/logs?service=levels&level=error&from=now-1h", headers=basic("viewer")).json["total"] == 0
    refused = client.get("/api/logs?level=loud", headers=basic("viewer"))
    assert refused.status_code == 400 and "debug, info, warning, error, critical" in refused.get_data(as_text=True)


def test_logs_search_filters_and_links_to_traces(app, seed, viewer):
    client = app.test_client()
    found = client.get("/api/logs?q=recompute failed&level=error&from=now-2h", headers=basic("viewer")).json
    assert found["total"] == 6 and all(line["level"] == "error" for line in found["lines"])
    assert client.get("/api/logs?service=gateway&from=now-2h", headers=basic("viewer")).json["total"] == 6
    page = viewer.get("/logs?q=order created&from=now-2h").get_data(as_text=True)
    assert f"/traces/{seed.trace_id}" in page
    assert "<script>window.__xss" not in page and "&lt;script&gt;window.__xss" in page
    assert viewer.get("/logs?from=bad").status_code == 400


def test_errors_are_grouped(app):
    groups = app.test_client().get("/api/errors?from=now-2h", headers=basic("viewer")).json["groups"]
    assert len(groups) == 1 and groups[0]["count"] == 6 and groups[0]["type"] == "TimeoutError"
    assert len(groups[0]["traces"]) == 5 and groups[0]["first_seen"] < groups[0]["last_seen"]


def test_host_and_service_charts_and_markers(app):
    client = app.test_client()
    hosts = client.get("/api/hosts", headers=basic("viewer")).json["hosts"]
    assert [h["name"] for h in hosts] == ["web-1"]
    series = client.get("/api/hosts/web-1/metrics?from=now-1h", headers=basic("viewer")).json["series"]
    assert any(value is not None for _, value in series["cpu"])
    charts = client.get("/api/services/backend/metrics?from=now-1h", headers=basic("viewer")).json
    assert sum(rate for _, rate in charts["series"]["requests_per_s"]) > 0
    assert charts["shards"] == [{"shard": "2", "operations": 6, "skewed": False}]
    changes = client.get("/api/changes?service=backend&from=now-1h", headers=basic("viewer")).json["changes"]
    assert [(c["category"], c["kind"]) for c in changes] == [("configuration", "deployment")]


def test_cmdb_edit_history_and_rollback_are_admin_only(app):
    client = app.test_client()
    key = "/api/cmdb/keys/production/web/settings"
    assert client.put(key, json={"value": {"pool": 1}}, headers=basic("viewer")).status_code == 403
    assert client.put(key, json={"value": {"pool": 1}}, headers=basic("operator")).status_code == 403
    changed = client.put(key, json={"value": {"pool": 20}, "expect_version": 1, "comment": "bigger"}, headers=basic("admin"))
    assert changed.status_code == 200 and changed.json["version"] == 2 and changed.json["user"] == "admin"
    stale = client.put(key, json={"value": {"pool": 30}, "expect_version": 1}, headers=basic("admin"))
    assert stale.status_code == 409
    history = client.get(key + "/history", headers=basic("viewer")).json["history"]
    assert [h["version"] for h in history] == [2, 1] and '+  "pool": 20' in history[0]["diff"]
    rolled = client.post(key + "/rollback", json={"version": 1}, headers=basic("admin"))
    assert rolled.status_code == 200 and rolled.json["new"]["pool"] == 10
    assert client.get(key, headers=basic("viewer")).json["value"]["pool"] == 10
    assert client.put("/api/cmdb/keys/bad key", json={"value": 1}, headers=basic("admin")).status_code == 400
    assert client.get("/api/cmdb/keys/oam/dashboard/users/admin", headers=basic("admin")).status_code == 404


def test_session_writes_need_the_csrf_token(app):
    client = app.test_client()
    token = login(client, "admin")
    key = "/api/cmdb/keys/production/web/csrf"
    assert client.put(key, json={"value": 1}).status_code == 400
    assert client.put(key, json={"value": 1}, headers={"X-CSRFToken": token}).status_code == 200


def test_viewer_gets_403_for_deploys_and_users(app):
    client = app.test_client()
    assert client.post("/api/deployments/shop/rollback", json={"confirm": "yes"}, headers=basic("viewer")).status_code == 403
    assert client.get("/api/users", headers=basic("operator")).status_code == 403
    assert [u["name"] for u in client.get("/api/users", headers=basic("admin")).json["users"]] == ["admin", "operator", "viewer"]


def test_admin_manages_users_and_ingest_tokens(app, seed):
    from collector.auth import TokenStore

    client = app.test_client()
    assert client.post("/api/tokens/web-9", headers=basic("operator")).status_code == 403
    issued = client.post("/api/tokens/web-9", headers=basic("admin"))
    assert issued.status_code == 201 and TokenStore(seed.config.tokens_file).verify(issued.json["token"]) == "web-9"
    assert [t["name"] for t in client.get("/api/tokens", headers=basic("admin")).json["tokens"]] == ["web-9"]
    assert client.post("/api/tokens/web-9", headers=basic("admin")).status_code == 400  # already exists
    assert client.delete("/api/tokens/web-9", headers=basic("admin")).status_code == 200
    assert TokenStore(seed.config.tokens_file).verify(issued.json["token"]) is None

    token = login(client, "admin")
    page = client.post("/admin/users", data={"name": "carol", "password": "carol-password", "role": "operator",
                                             "csrf_token": token})
    assert page.status_code == 302
    assert client.get("/api/deployments/none", headers={"Authorization": "Basic " + base64.b64encode(
        b"carol:carol-password").decode()}).status_code == 404  # carol can log in (no such service)
    short = client.post("/admin/users", data={"name": "dave", "password": "short", "role": "viewer", "csrf_token": token})
    assert short.status_code == 400 and "too short" in short.get_data(as_text=True)
    assert client.put("/api/users/eve", json={"password": "eve-password", "role": "root"},
                      headers=basic("admin")).status_code == 400


def test_openapi_document_lists_every_api_route(app):
    document = app.test_client().get("/api/openapi.json").json
    routes = {re.sub(r"<(?:path:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"}
    routes = {re.sub(r"\{(job_id)\}", "{id}", r) for r in routes}
    routes = {re.sub(r"/api/cmdb/keys/\{key\}(.*)", r"/api/cmdb/keys/{key}\1", r) for r in routes}
    assert routes <= set(document["paths"]), routes - set(document["paths"])


def test_oam_dashboard_run_serves_the_app(seed, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import requests

    from backing_services.ports import free_port

    port = free_port()
    key = tmp_path / "secret"
    key.write_text("k" * 32)
    es = seed.config.elasticsearch  # the dashboard's own user, over TLS with the suite's CA
    env = {**os.environ, "OAM_CMDB_USER": seed.config.cmdb_user, "OAM_CMDB_PASSWORD": seed.config.cmdb_password,
           "OAM_ES_USER": es.username, "OAM_ES_PASSWORD": es.password, "OAM_ES_CA_FILE": es.ca_file}
    process = subprocess.Popen(
        [sys.executable, "-m", "oam", "--data-dir", str(tmp_path), "dashboard", "run", "--port", str(port),
         "--es", ",".join(es.hosts), "--index-prefix", seed.prefix, "--zk", seed.config.zookeeper,
         "--cmdb-root", seed.root, "--secret-key-file", str(key)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(url + "/login", timeout=1), timeout=10, interval=0.1,
                   retry_on=(requests.ConnectionError,), what="the dashboard to answer")
        answer = requests.get(url + f"/api/traces/{seed.trace_id}", auth=("viewer", PASSWORDS["viewer"]), timeout=10)
        assert answer.status_code == 200 and answer.json()["counts"]["transactions"] == 3
        assert requests.get(url + "/api/logs", auth=("viewer", "wrong-password"), timeout=10).status_code == 401
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def test_overview_shows_collectors_hosts_figures_and_changes(seed, es_users, tmp_path):
    from backing_services.ports import free_port
    from collector.config import CollectorElasticsearch, load_config
    from collector.testing import serve_in_thread

    config = load_config(None, port=free_port(), tokens_file=tmp_path / "tokens.json", spool_dir=tmp_path / "spool",
                         index_prefix=seed.prefix)
    config.elasticsearch = CollectorElasticsearch(**es_users["collector"].model_dump())
    gone = f"http://127.0.0.1:{free_port()}"
    with serve_in_thread(config) as running:
        seed.config.collectors = [running.url, gone]
        app = make_app(seed)
        try:
            overview = app.test_client().get("/api/overview?from=now-1h", headers=basic("viewer")).json
        finally:
            seed.config.collectors = []
            app.extensions["oam.connections"].close()
    health = overview["health"]
    assert health["elasticsearch"]["ok"] and health["zookeeper"]["ok"]
    assert health[f"collector {running.url}"]["ok"] and not health[f"collector {gone}"]["ok"]
    assert overview["hosts_live"] == 0 and overview["hosts_down"] == ["web-1"]
    assert overview["figures"]["requests"] == 18 and overview["figures"]["error_rate"] == round(6 / 18, 4)
    assert [c["kind"] for c in overview["changes_today"]] in (["deployment"], [])  # [] just after midnight
