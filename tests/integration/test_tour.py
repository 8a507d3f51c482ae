"""The README's tour, step by step, as a newcomer follows it — the browser part in real Chromium.

`oam up` in the foreground (what ./scripts/up runs), the commands of the tour in a second "shell"
whose environment is `eval "$(oam env)"`, the dashboard in headless Chromium, and Ctrl-C at the
end. Only the settings file differs from the README (free ports, a scratch data dir), passed the
way a user would: $OAM_CONFIG.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from local_suite import processes_under, suite_config, wait_until

from dashboard.testing import headless_chromium, log_in
from oam.config import load as load_settings

pytestmark = pytest.mark.timeout(900)


class Tour:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.settings = load_settings(config)
        self.shell = {**os.environ, "OAM_CONFIG": str(config)}

    def oam(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "oam", *args], env=self.shell, capture_output=True, text=True,
                              timeout=timeout)

    def load_env(self) -> None:
        """`eval "$(oam env)"`: every line is `export NAME=value`."""
        printed = self.oam("env")
        assert printed.returncode == 0, printed.stderr
        exported = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1)
                        for line in printed.stdout.splitlines())
        as_json = self.oam("env", "-o", "json")
        assert as_json.returncode == 0 and json.loads(as_json.stdout) == exported
        self.shell.update(exported)

    @property
    def dashboard(self) -> str:
        return f"http://{self.settings.host}:{self.settings.ports.dashboard}"

    def host_versions(self) -> list[str]:
        sandbox = self.settings.sandbox
        return [requests.get(f"http://127.0.0.{sandbox.first_address + i}:{sandbox.app_port}/health",
                             timeout=5).json()["version"] for i in range(sandbox.hosts)]


@pytest.fixture(scope="module")
def tour(run_dir: Path):
    data_dir = run_dir / "tour"
    config = run_dir / "tour.toml"
    config.write_text(suite_config(data_dir))
    guide = Tour(config)
    up = subprocess.Popen([sys.executable, "-m", "oam", "up"], env=guide.shell, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    guide.up = up
    try:
        wait_until(lambda: _phase(data_dir) == "running" or up.poll() is not None, 300, "oam up running", 0.5)
        assert up.poll() is None, up.stdout.read()
        yield guide
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=120)
            except subprocess.TimeoutExpired:
                up.kill()
        for pid in processes_under(data_dir):
            os.kill(pid, signal.SIGKILL)


def _phase(data_dir: Path) -> str:
    try:
        return json.loads((data_dir / "run" / "stack.json").read_text())["phase"]
    except (OSError, ValueError, KeyError):
        return ""


def test_the_tour(tour, run_dir):
    from selenium.webdriver.common.by import By

    password = (tour.settings.run_dir / "dashboard-admin.password").read_text().strip()
    tour.load_env()
    assert tour.shell["OAM_ENVIRONMENT"] == "development" and Path(tour.shell["OAM_SSH_KEY"]).exists()

    # 1. A failing request: its GTX comes back in a header.
    failed = requests.get(f"http://127.0.0.1:{tour.settings.ports.gateway}/api/fail", timeout=10)
    assert failed.status_code == 500
    gtx = failed.headers["X-Trace-Id"]

    with headless_chromium() as browser:
        # 2. Open the dashboard and log in with the printed login; the overview shows both collectors.
        log_in(browser, tour.dashboard, "admin", password)
        overview = browser.find_element(By.TAG_NAME, "body").text
        assert overview.count("collector http://") == 2, overview

        # 3. The error list has the failing endpoint's error with trace links; one opens its trace.
        def error_group():
            browser.get(tour.dashboard + "/errors")
            rows = [row for row in browser.find_elements(By.CSS_SELECTOR, "#error-groups tr")
                    if "this endpoint fails on purpose" in row.text]
            return rows[0] if rows else None

        row = wait_until(error_group, 90, "the failing endpoint's error in the error list")
        row.find_element(By.CSS_SELECTOR, "a.trace-link").click()
        assert "/traces/" in browser.current_url

        # 4. Paste our own GTX into the trace lookup: gateway, backend and worker, the error inline.
        def full_trace():
            browser.get(tour.dashboard + "/traces")
            browser.find_element(By.ID, "gtx").send_keys(gtx)
            browser.find_element(By.ID, "open-trace").click()
            services = {e.get_attribute("data-service")
                        for e in browser.find_elements(By.CSS_SELECTOR, "#waterfall .row.kind-transaction")}
            return services >= {"gateway", "backend", "worker"} and browser.find_elements(
                By.CSS_SELECTOR, "#waterfall .row.kind-error")
        wait_until(full_trace, 90, "the trace across gateway, backend and worker", 2)
        assert gtx in browser.find_element(By.ID, "trace-id").text
        assert "this endpoint fails on purpose" in browser.find_element(By.ID, "waterfall").text
        assert browser.find_elements(By.CSS_SELECTOR, "#waterfall .row.slowest")

        # 5. Deploy v1, then v2, to the three sandbox hosts.
        for version in ("1.0.0", "2.0.0"):
            deployed = tour.oam("deploy", "order-service", version)
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            assert f"every host is on {version}" in deployed.stdout
        assert tour.host_versions() == ["2.0.0"] * 3

        # 6. The broken v3: its first host fails its health check, everything goes back to v2.
        broken = tour.oam("deploy", "order-service", "3.0.0")
        assert broken.returncode == 2, broken.stdout + broken.stderr
        assert "rolled back" in broken.stdout and "every switched host is back on its previous release" in broken.stdout
        assert tour.host_versions() == ["2.0.0"] * 3

        # 6b. v4 passes its health check but fails 30% of order reads: the verdict on its first batch,
        # against the two hosts still on v2 under the sandbox's reads, rolls it back.
        failing = tour.oam("deploy", "order-service", "4.0.0")
        print(failing.stdout)
        assert failing.returncode == 2, failing.stdout + failing.stderr
        first_batch = failing.stdout.split("batch 2")[0]
        assert "error_rate FAIL" in first_batch and "verdict FAIL against hosts not yet switched" in first_batch
        assert "rolled back" in failing.stdout and "every switched host is back on its previous release" in failing.stdout
        assert tour.host_versions() == ["2.0.0"] * 3

        # The deployments page shows the figures the verdict was taken on: 4.0.0's error rate against 2.0.0's.
        browser.get(tour.dashboard + "/deployments?service=order-service")
        header = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#deploy-verdicts tr th")]
        rows = [dict(zip(header, (cell.text for cell in row.find_elements(By.TAG_NAME, "td")), strict=True))
                for row in browser.find_elements(By.CSS_SELECTOR, "#deploy-verdicts tr")[1:]]
        judged = [r for r in rows if r["version"] == "4.0.0" and r["check"] == "error_rate" and r["batch"] == "1"]
        assert judged, rows
        assert judged[0]["verdict"] == "fail" and judged[0]["result"] == "fail"
        assert float(judged[0]["new"]) > float(judged[0]["baseline"]) and judged[0]["p-value"] != "-"
        new_count, baseline_count = map(int, judged[0]["n new/baseline"].split("/"))
        assert new_count > 0 and baseline_count > 0

        # 7. Roll back to v1 on purpose.
        back = tour.oam("rollback", "order-service", "--to", "1.0.0")
        assert back.returncode == 0, back.stdout + back.stderr
        assert tour.host_versions() == ["1.0.0"] * 3
        releases = tour.oam("releases", "order-service")
        assert releases.returncode == 0 and releases.stdout.count("1.0.0") >= 3

        # 8. Every step is a marker on the host's charts (shipped by the agent from the deployer's spool).
        browser.get(tour.dashboard + "/hosts")
        browser.find_element(By.CSS_SELECTOR, "a[href^='/hosts/']").click()
        host_page = browser.current_url

        def markers() -> int:
            browser.get(host_page)
            wait_until(lambda: browser.find_element(By.CSS_SELECTOR, ".charts").get_attribute("data-loaded"), 20,
                     "charts drawn", 0.2)
            return browser.execute_script(
                "const canvas = document.querySelector('canvas[data-series]');"
                "const chart = Chart.getChart(canvas);"
                "const set = chart.data.datasets.find(d => d.label === 'changes');"
                "return set ? set.data.length : 0;") >= 4
        wait_until(markers, 90, "four deploy markers on the host's charts", 2)
        notes = browser.execute_script(
            "const chart = Chart.getChart(document.querySelector('canvas[data-series]'));"
            "return chart.data.datasets.find(d => d.label === 'changes').data.map(p => p.note);")
        assert any("rolled_back" in note for note in notes) and any("rollback-finished order-service" in note for note in notes)
        # 4.0.0's marker carries its verdict and the deciding figures in the tooltip.
        assert any("batch 1 verdict fail: error_rate" in note and " vs " in note for note in notes), notes

    # 9. Ctrl-C stops everything, the backends the deploys started included.
    tour.up.send_signal(signal.SIGINT)
    output, _ = tour.up.communicate(timeout=120)
    assert tour.up.returncode == 0 and "stopped." in output
    assert not processes_under(tour.settings.data_dir)
    assert re.search(r"dashboard: http://\S+/\s+login: admin", output)
