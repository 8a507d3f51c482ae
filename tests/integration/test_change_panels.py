"""Changes you can open, against the real Elasticsearch and ZooKeeper: a deploy's panel with the figures
before and after it by service.version, a CMDB change's diff, a regressed error group with its first
release, and a marker clicked in headless Chromium that opens its panel.

Fixture traffic of the service ``panelsvc``, two hours ago (the seeded dashboard's own traffic is newer):

* 15 minutes before the deploy at ``T``: 30 transactions of 1.0, 3 failed, 20 ms each;
* 15 minutes after: 20 of 1.0 (2 failed, 20 ms) and 40 of 2.0 (10 failed, 80 ms);
* a CMDB edit of ``production/panelsvc/settings`` at ``T + 40 min``: 10 transactions of 20 ms
  before it, 10 of 300 ms after it.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pytest

from cmdb.events import configuration_event
from dashboard import demo
from dashboard.testing import ServedApp, form_login, headless_chromium, log_in, make_app, seeded
from deployer import Registry
from deployer.events import deployment_event
from telemetry.context import TraceIds
from telemetry.ecs import ServiceInfo, error_document, transaction_document

SERVICE = "panelsvc"
CONFIG_KEY = f"production/{SERVICE}/settings"


def _transactions(start: datetime, count: int, version: str, *, failed: int, ms: int) -> list:
    docs = []
    for i in range(count):
        trace, tx = secrets.token_hex(16), secrets.token_hex(8)
        info = ServiceInfo(SERVICE, version, "production", f"h{i % 2 + 1}")
        docs.append(("transactions", transaction_document(
            info, "GET /items", "request", TraceIds(trace, tx, tx), duration_ns=ms * 1_000_000,
            outcome="failure" if i < failed else "success", at=start + timedelta(seconds=20 * i + 1))))
    return docs


def _errors(group: str, moments: list[datetime], version: str) -> list:
    info = ServiceInfo(SERVICE, version, "production", "h1")
    return [("errors", error_document(info, "PanelError", f"item {i} missing", "File panel.py", group=group, at=at))
            for i, at in enumerate(moments)]


@pytest.fixture(scope="module")
def panels(es_client, es_users, zookeeper):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    deployed_at, edited_at = now - timedelta(hours=2), now - timedelta(hours=2) + timedelta(minutes=40)
    with seeded(es_client, zookeeper.connection_string, elasticsearch=es_users["dashboard"]) as seed:
        record = {"service": SERVICE, "version": "2.0", "action": "deploy", "user": "bob", "result": "succeeded",
                  "finished": deployed_at.isoformat(),
                  "hosts": [{"host": f"h{i}", "previous": "1.0", "target": "2.0", "status": "deployed"}
                            for i in (1, 2)]}
        record["id"] = Registry(seed.cmdb).record_deployment(record)
        seed.cmdb.store.set(CONFIG_KEY, {"delay_ms": 0, "pool": 4}, comment="baseline")
        edit = seed.cmdb.store.set(CONFIG_KEY, {"delay_ms": 250, "pool": 4}, comment="make shard 3 slow")
        edit_event = configuration_event(edit)
        edit_event["@timestamp"] = edited_at.isoformat()
        docs = [("changes", deployment_event(record)), ("changes", edit_event)]
        docs += _transactions(deployed_at - timedelta(minutes=15), 30, "1.0", failed=3, ms=20)
        docs += _transactions(deployed_at, 20, "1.0", failed=2, ms=20)
        docs += _transactions(deployed_at + timedelta(seconds=5), 40, "2.0", failed=10, ms=80)
        docs += _transactions(edited_at - timedelta(minutes=10), 10, "2.0", failed=0, ms=20)
        docs += _transactions(edited_at + timedelta(seconds=10), 10, "2.0", failed=0, ms=300)
        group = f"panel-{secrets.token_hex(4)}"
        docs += _errors(group, [now - timedelta(days=3, minutes=m) for m in (0, 5, 9)], "1.0")
        docs += _errors(group, [now - timedelta(hours=1, minutes=m) for m in (0, 2)], "2.0")
        demo.write_documents(es_client, docs, seed.prefix)
        app = make_app(seed)
        client = app.test_client()
        form_login(client, "viewer")
        window = {"from": (deployed_at - timedelta(minutes=30)).isoformat(),
                  "to": (edited_at + timedelta(minutes=30)).isoformat()}
        markers = client.get("/api/changes", query_string={**window, "service": SERVICE}).get_json()["changes"]
        ids = {m["kind"]: m["id"] for m in markers}
        yield {"client": client, "seed": seed, "ids": ids, "record": record, "window": window, "group": group,
               "edit": edit}
        app.extensions["oam.connections"].close()


def _get(client, path, **params):
    answer = client.get(path, query_string=params)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_every_marker_carries_the_id_of_its_change(panels):
    assert set(panels["ids"]) == {"deployment", "configuration"}


def test_a_deploy_panel_shows_versions_hosts_and_figures_by_version(panels):
    change = _get(panels["client"], f"/api/changes/{panels['ids']['deployment']}")
    assert (change["kind"], change["service"], change["user"], change["result"]) == (
        "deployment", SERVICE, "bob", "succeeded")
    assert (change["from_versions"], change["to_version"]) == (["1.0"], "2.0")
    assert [h["host"] for h in change["hosts"]] == ["h1", "h2"]
    assert change["record_url"] == f"/deployments?service={SERVICE}#deploy-{panels['record']['id']}"
    figures = change["figures"]
    assert figures["before"] == {"requests": 30, "requests_per_s": round(30 / 900, 4), "error_rate": 0.1,
                                 "p95_ms": 20.0}
    assert (figures["after"]["requests"], figures["after"]["error_rate"]) == (60, 0.2)
    versions = {v["version"]: v for v in figures["versions"]}
    assert set(versions) == {"1.0", "2.0"}
    assert (versions["1.0"]["before"]["requests"], versions["1.0"]["after"]["requests"]) == (30, 20)
    assert (versions["1.0"]["after"]["error_rate"], versions["1.0"]["after"]["p95_ms"]) == (0.1, 20.0)
    assert versions["2.0"]["before"] == {"requests": 0, "requests_per_s": 0.0, "error_rate": None, "p95_ms": None}
    assert (versions["2.0"]["after"]["error_rate"], versions["2.0"]["after"]["p95_ms"]) == (0.25, 80.0)


def test_a_cmdb_change_panel_shows_the_diff_of_its_two_versions(panels):
    change = _get(panels["client"], f"/api/changes/{panels['ids']['configuration']}")
    assert (change["kind"], change["key"], change["version"]) == ("configuration", CONFIG_KEY, panels["edit"].version)
    assert (change["user"], change["comment"], change["diff_from"]) == (
        panels["edit"].user, "make shard 3 slow", "cmdb")
    assert '-  "delay_ms": 0,' in change["diff"] and '+  "delay_ms": 250,' in change["diff"]
    assert f"{CONFIG_KEY}@{panels['edit'].version - 1}" in change["diff"]
    figures = change["figures"]
    assert "versions" not in figures
    assert (figures["before"]["requests"], figures["before"]["p95_ms"]) == (10, 20.0)
    assert (figures["after"]["requests"], figures["after"]["p95_ms"]) == (10, 300.0)


@pytest.mark.parametrize("bad", ["no-such-change", "a%20b", "x" * 129])
def test_an_unknown_or_malformed_id_is_a_404_naming_it(panels, bad):
    answer = panels["client"].get(f"/api/changes/{bad}")
    assert answer.status_code == 404
    assert "no change" in answer.get_json()["error"]


def test_an_error_group_back_after_days_is_regressed_with_its_first_release(panels):
    client, group = panels["client"], panels["group"]
    answer = _get(client, f"/api/errors/{group}", **panels["window"])
    assert (answer["regressed"], answer["first_release"], answer["total"]) == (True, "1.0", 5)
    assert 70 < answer["quiet_before_hours"] < 72
    assert _get(client, f"/api/errors/{group}", quiet="4d")["regressed"] is False
    page = client.get(f"/errors/{group}").get_data(as_text=True)
    assert "(regressed)" in page and 'id="first-release">1.0<' in page
    bad = client.get(f"/api/errors/{group}", query_string={"quiet": "5m"})
    assert bad.status_code == 400 and "quiet must be" in bad.get_json()["error"]


def test_the_seeded_group_is_not_regressed(panels):
    client = panels["client"]
    groups = _get(client, "/api/errors", **{"from": "now-1h"})["groups"]
    seeded_group = next(g for g in groups if g["type"] == "TimeoutError")
    answer = _get(client, f"/api/errors/{seeded_group['grouping_key']}")
    assert (answer["regressed"], answer["first_release"]) == (False, "1.2.0")


def test_clicking_a_deploy_marker_opens_its_panel(panels, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seed, window = panels["seed"], panels["window"]
    with ServedApp(make_app(seed)) as served, headless_chromium() as driver:
        log_in(driver, served.url, "viewer")
        driver.get(f"{served.url}/services/{SERVICE}?from={window['from']}&to={window['to']}".replace("+", "%2B"))
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".charts").get_attribute("data-loaded") == "true")
        canvas = driver.find_element(By.CSS_SELECTOR, "canvas[data-series='error_rate']")
        x, y, width, height = driver.execute_script("""
            var chart = Chart.getChart(arguments[0]);
            var index = chart.data.datasets.findIndex(function (d) { return d.label === 'changes'; });
            var marks = chart.data.datasets[index].data, meta = chart.getDatasetMeta(index);
            var at = marks.map(function (m) { return m.id; }).indexOf(arguments[1]);
            return [meta.data[at].x, meta.data[at].y, arguments[0].clientWidth, arguments[0].clientHeight];
        """, canvas, panels["ids"]["deployment"])
        ActionChains(driver).move_to_element_with_offset(canvas, int(x - width / 2), int(y - height / 2)).click().perform()
        panel = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "change-panel"))
        WebDriverWait(driver, 20).until(lambda _: panel.get_attribute("data-loaded") == "true")
        driver.save_screenshot(str(tmp_path / "change-panel.png"))
        assert f"Deploy of {SERVICE}: 1.0 \u2192 2.0" in panel.text
        assert panel.get_attribute("data-change-id") == panels["ids"]["deployment"]
        row = panel.find_element(By.CSS_SELECTOR, "tr[data-version='2.0'][data-metric='error_rate']")
        assert row.text.split()[-2:] == ["25.00", "%"]
        assert "bob" in panel.text and "h1 1.0 \u2192 2.0 (deployed)" in panel.text
        assert driver.execute_script("return window.location.search").count("from=") == 1  # a click is no zoom
        assert driver.find_element(By.ID, "change-record").get_attribute("href").endswith(
            f"#deploy-{panels['record']['id']}")
