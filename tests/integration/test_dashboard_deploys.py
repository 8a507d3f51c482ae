"""Deployments page in real headless Chromium against real sshd hosts: an operator rolls back with a
confirmation step and follows the progress; a viewer sees no controls and gets 403 from the API."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from backing_services.ports import free_port
from backing_services.process import reap_stale
from dashboard.testing import CHROMEDRIVER, CHROMIUM, ServedApp, headless_chromium, log_in, make_app, seeded
from deployer import Registry, RunOptions, SshOptions, deploy
from order_service.sample_release import sample_config, write_sample_release

from requirements import require, require_module

webdriver = require_module("selenium.webdriver", "selenium is not installed (test extra)")
require(CHROMIUM.exists() and CHROMEDRIVER.exists(),
        "Debian chromium and chromium-driver are not installed (scripts/setup installs them)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SERVICE = f"dash{os.getpid()}"


@pytest.fixture(scope="module")
def deployed(es_client, es_users, zookeeper, ssh_hosts, tmp_path_factory):
    """The service deployed at v1 then v2 on the three hosts, and the dashboard serving it."""
    work = tmp_path_factory.mktemp("dashboard-deploys")
    with seeded(es_client, zookeeper.connection_string, elasticsearch=es_users["dashboard"],
                deploy_known_hosts=ssh_hosts.known_hosts,
                deploy_identity=ssh_hosts.client_key, deploy_events_file=work / "events.jsonl") as seed:
        hosts = [{"name": f"host{i + 1}", "address": s.address, "port": s.port, "deploy_root": str(s.root / SERVICE),
                  "env": {"APP_PORT": str(free_port(s.address)), "APP_ADDRESS": s.address}}
                 for i, s in enumerate(ssh_hosts)]
        registry = Registry(seed.cmdb)
        registry.save_service_config(SERVICE, sample_config(hosts, health_retries=10, health_interval=0.2))
        options = RunOptions(user="setup", ssh=SshOptions(known_hosts=ssh_hosts.known_hosts,
                                                          identity=ssh_hosts.client_key, connect_timeout=5),
                             batch_size=3)
        try:
            for version in ("v1", "v2"):
                outcome, _ = deploy(registry, SERVICE, version, options,
                                    source=write_sample_release(work / version, version))
                assert outcome.result == "succeeded"
            with ServedApp(make_app(seed)) as served:
                served.hosts = hosts
                yield served
        finally:
            for host in hosts:
                reap_stale(Path(host["deploy_root"]) / "shared" / "app.pid")


@pytest.fixture()
def browser():
    with headless_chromium() as driver:
        yield driver


def current_table(driver) -> dict[str, str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#current tr")[1:]
    return dict(row.text.split() for row in rows)


def test_operator_rolls_back_with_confirmation(deployed, browser, tmp_path):
    url = deployed.url
    log_in(browser, url, "operator")
    browser.get(f"{url}/deployments?service={SERVICE}")
    assert current_table(browser) == {"host1": "v2", "host2": "v2", "host3": "v2"}
    browser.find_element(By.ID, "start-rollback").click()
    assert f"Roll back on every host of {SERVICE}?" in browser.find_element(By.ID, "confirm-text").text
    browser.find_element(By.ID, "confirm-yes").click()
    progress = browser.find_element(By.ID, "progress")
    WebDriverWait(browser, 90).until(lambda _: progress.get_attribute("data-state") in ("succeeded", "failed"))
    assert progress.get_attribute("data-state") == "succeeded", progress.text
    assert "[host1] switch ok" in progress.text
    browser.save_screenshot(str(tmp_path / "deployments-rollback.png"))
    browser.get(f"{url}/deployments?service={SERVICE}")
    assert current_table(browser) == {"host1": "v1", "host2": "v1", "host3": "v1"}
    assert "rollback" in browser.find_element(By.ID, "deploy-history").text.split("\n")[1]
    for host in deployed.hosts:
        assert os.readlink(Path(host["deploy_root"]) / "current") == "releases/v1"


def test_viewer_sees_no_deploy_controls_and_gets_403(deployed, browser, tmp_path):
    url = deployed.url
    log_in(browser, url, "viewer")
    browser.get(f"{url}/deployments?service={SERVICE}")
    assert browser.find_elements(By.ID, "deploy-history")
    assert browser.find_elements(By.ID, "deploy-controls") == []
    browser.save_screenshot(str(tmp_path / "deployments-viewer.png"))
    status = browser.execute_script(f"""
        const token = document.querySelector('meta[name=csrf-token]').content;
        const r = await fetch('/api/deployments/{SERVICE}/rollback', {{method: 'POST',
            headers: {{'Content-Type': 'application/json', 'X-CSRFToken': token}}, body: '{{"confirm": "yes"}}'}});
        return r.status;""")
    assert status == 403
