"""The dashboard in real headless Chromium: log in, trace by GTX, logs, CMDB edit, XSS, roles.

Screenshots of each page are saved under the test's tmp dir (``screenshots/``).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import DashboardConfig
from dashboard.testing import CHROMEDRIVER, CHROMIUM, ServedApp, headless_chromium, log_in, make_app, seeded

from requirements import require, require_module

webdriver = require_module("selenium.webdriver", "selenium is not installed (test extra)")
require(CHROMIUM.exists() and CHROMEDRIVER.exists(),
        "Debian chromium and chromium-driver are not installed (scripts/setup installs them)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as until  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def served(es_client, es_users, zookeeper):
    with seeded(es_client, zookeeper.connection_string, elasticsearch=es_users["dashboard"]) as seed:
        with ServedApp(make_app(seed)) as served:
            served.seed = seed
            yield served


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture()
def browser():
    with headless_chromium() as driver:
        yield driver


def shot(driver, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 1000


def test_admin_traces_searches_logs_and_edits_the_cmdb(served, browser, shots):
    url, seed = served.url, served.seed
    log_in(browser, url, "admin")
    shot(browser, shots, "overview")
    assert "admin (admin)" in browser.find_element(By.ID, "who").text

    browser.get(url + "/traces")
    browser.find_element(By.ID, "gtx").send_keys(seed.trace_id)
    browser.find_element(By.ID, "open-trace").click()
    WebDriverWait(browser, 10).until(until.presence_of_element_located((By.ID, "waterfall")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#waterfall .row")
    kinds = [row.get_attribute("data-kind") for row in rows]
    assert kinds.count("transaction") == 3 and kinds.count("span") == 3
    assert kinds.count("log") == 4 and kinds.count("error") == 1
    assert {row.get_attribute("data-service") for row in rows} == {"gateway", "backend", "worker"}
    assert "shard insert" in browser.find_element(By.CSS_SELECTOR, "#waterfall .row.slowest").text
    shot(browser, shots, "trace")

    browser.get(url + "/logs?from=now-2h")
    box = browser.find_element(By.ID, "q")
    box.send_keys("order created")
    browser.find_element(By.ID, "search").click()
    WebDriverWait(browser, 10).until(until.url_contains("q=order"))
    messages = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#log-lines td.message")]
    assert len(messages) == 6 and all("order created" in m for m in messages)
    assert any("<script>window.__xss = 1</script>" in m for m in messages)  # shown as text
    assert browser.execute_script("return window.__xss === undefined")
    shot(browser, shots, "logs")
    browser.find_element(By.CSS_SELECTOR, "#log-lines a.trace-link").click()
    WebDriverWait(browser, 10).until(until.presence_of_element_located((By.ID, "waterfall")))

    browser.get(url + "/cmdb/key/production/web/settings")
    assert "<script>" in browser.find_element(By.ID, "value").text
    assert browser.execute_script("return window.__xss === undefined")
    area = browser.find_element(By.ID, "new-value")
    area.clear()
    area.send_keys('{"pool": 25}')
    browser.find_element(By.ID, "comment").send_keys("more connections")
    browser.find_element(By.ID, "save").click()
    WebDriverWait(browser, 10).until(until.text_to_be_present_in_element((By.ID, "version"), "2"))
    history = browser.find_element(By.ID, "history").text
    assert "more connections" in history and "admin" in history and '+  "pool": 25' in history
    shot(browser, shots, "cmdb")
    browser.find_element(By.CSS_SELECTOR, ".rollback-form button").click()
    WebDriverWait(browser, 5).until(until.alert_is_present()).accept()
    WebDriverWait(browser, 10).until(until.text_to_be_present_in_element((By.ID, "version"), "3"))
    assert '"pool": 10' in browser.find_element(By.ID, "value").text


def test_chart_pages_draw_with_the_installed_library(served, browser, shots):
    require(DashboardConfig().chart_js_path(),
            "Chart.js is not installed (Debian package libjs-chart.js, installed by scripts/setup)")
    url = served.url
    log_in(browser, url, "admin")
    for page in ("/hosts", "/hosts/web-1?from=now-1h", "/services/backend?from=now-1h", "/errors?from=now-2h", "/admin"):
        browser.get(url + page)
        if page.startswith(("/hosts/", "/services/")):
            WebDriverWait(browser, 15).until(
                until.presence_of_element_located((By.CSS_SELECTOR, ".charts[data-loaded=true]")))
            assert browser.execute_script(
                "return [...document.querySelectorAll('canvas')].every(c => Chart.getChart(c) !== undefined)")
        shot(browser, shots, page.strip("/").split("?")[0].replace("/", "-"))
        assert not browser.find_elements(By.ID, "problem")
        if page.startswith("/services/"):
            assert browser.find_element(By.ID, "shards").text.split("\n")[1] == "2 6"
        if page.startswith("/errors"):
            assert "TimeoutError" in browser.find_element(By.ID, "error-groups").text


def test_viewer_sees_no_edit_or_deploy_controls(served, browser, shots):
    url = served.url
    log_in(browser, url, "viewer")
    browser.get(url + "/cmdb/key/production/web/settings")
    assert browser.find_elements(By.ID, "edit-form") == []
    assert browser.find_elements(By.CSS_SELECTOR, ".rollback-form") == []
    shot(browser, shots, "cmdb-viewer")
    browser.get(url + "/deployments")
    assert browser.find_elements(By.ID, "deploy-controls") == []
    status = browser.execute_script("""
        const token = document.querySelector('meta[name=csrf-token]').content;
        const r = await fetch('/api/cmdb/keys/production/web/settings', {method: 'PUT',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': token}, body: '{"value": 1}'});
        return r.status;""")
    assert status == 403


def test_bad_input_gets_a_friendly_page(served, browser, shots):
    log_in(browser, served.url, "viewer")
    browser.get(served.url + "/traces/not-a-gtx")
    assert "not a GTX" in browser.find_element(By.ID, "problem").text
    browser.get(served.url + "/logs?from=now&to=now-1h")
    assert "must be before" in browser.find_element(By.ID, "problem").text
    shot(browser, shots, "bad-range")


def test_trace_search_lists_the_slow_trace_and_its_point_opens_it(served, browser, shots):
    require(DashboardConfig().chart_js_path(),
            "Chart.js is not installed (Debian package libjs-chart.js, installed by scripts/setup)")
    from selenium.webdriver.common.action_chains import ActionChains

    url, seed = served.url, served.seed
    log_in(browser, url, "viewer")
    browser.get(url + "/traces/search?from=now-1h&min_duration=150ms")  # the seeded trace is 175 ms, the rest < 80
    rows = browser.find_elements(By.CSS_SELECTOR, "#trace-results tr")[1:]
    assert len(rows) == 1 and "gateway: POST /orders" in rows[0].text
    WebDriverWait(browser, 15).until(
        until.presence_of_element_located((By.CSS_SELECTOR, "#trace-scatter[data-loaded='1']")))
    shot(browser, shots, "trace-search")
    canvas = browser.find_element(By.ID, "trace-scatter")
    x, y = browser.execute_script("const p = Chart.getChart(arguments[0]).getDatasetMeta(0).data[0];"
                                  "return [p.x - arguments[0].clientWidth / 2, p.y - arguments[0].clientHeight / 2];",
                                  canvas)
    ActionChains(browser).move_to_element_with_offset(canvas, int(x), int(y)).click().perform()
    WebDriverWait(browser, 10).until(until.url_contains(f"/traces/{seed.trace_id}"))
    assert browser.find_elements(By.ID, "waterfall")


def test_an_error_group_page_and_its_time_controls(served, browser, shots):
    require(DashboardConfig().chart_js_path(),
            "Chart.js is not installed (Debian package libjs-chart.js, installed by scripts/setup)")
    from selenium.webdriver.common.action_chains import ActionChains

    url, seed = served.url, served.seed
    log_in(browser, url, "viewer")
    browser.get(url + "/errors?from=now-2h")
    browser.find_element(By.CSS_SELECTOR, "#error-groups a.group-link").click()
    WebDriverWait(browser, 10).until(until.presence_of_element_located((By.ID, "group-count")))
    assert "from=now-2h" in browser.current_url
    assert browser.find_element(By.ID, "group-count").text == "6"  # one per seeded trace
    assert browser.find_element(By.CSS_SELECTOR, ".affected-hosts").text != "(none in range)"
    assert "TimeoutError" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.ID, "stack-trace").text
    links = browser.find_elements(By.CSS_SELECTOR, "#occurrences a.trace-link")
    assert len(links) == 6 and links[0].get_attribute("href") == f"{url}/traces/{seed.trace_id}"  # newest first
    shot(browser, shots, "error-group")

    def chart_range() -> list[float]:
        WebDriverWait(browser, 15).until(
            until.presence_of_element_located((By.CSS_SELECTOR, ".charts[data-loaded=true]")))
        return browser.execute_script("const s = Chart.getChart(document.querySelector('canvas')).scales.x;"
                                      "return [s.min, s.max];")

    before = chart_range()
    browser.find_element(By.LINK_TEXT, "6 h").click()
    WebDriverWait(browser, 10).until(until.url_contains("from=now-6h"))
    after = chart_range()
    assert after[0] < before[0] - 3 * 3600 * 1000  # the axis starts about four hours earlier
    assert "from=now-6h" in browser.find_element(By.LINK_TEXT, "Logs").get_attribute("href")  # carried along

    canvas = browser.find_element(By.TAG_NAME, "canvas")
    ActionChains(browser).move_to_element_with_offset(canvas, -canvas.size["width"] // 4, 0).click_and_hold() \
        .move_by_offset(canvas.size["width"] // 4, 0).release().perform()
    WebDriverWait(browser, 10).until(until.url_contains("to=20"))
    zoomed = chart_range()
    assert after[0] < zoomed[0] and zoomed[1] - zoomed[0] < (after[1] - after[0]) / 2
    shot(browser, shots, "error-group-zoomed")

    statuses = browser.execute_script("""
        const bad = await fetch('/api/errors/a%20b'), unknown = await fetch('/api/errors/no-such-group');
        return [bad.status, (await bad.json()).error, unknown.status, (await unknown.json()).error];""")
    assert statuses[0] == 400 and "not an error grouping key" in statuses[1]
    assert statuses[2] == 404 and "no error group 'no-such-group'" in statuses[3]
