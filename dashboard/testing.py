"""A seeded dashboard for tests and benchmarks: documents under their own index prefix, a CMDB root
with one user per role, and the app configured for both. Real Elasticsearch and ZooKeeper only."""
from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from cmdb import Cmdb, HostFacts
from foundation.elasticsearch import delete_indices
from telemetry.ecs import STORED_KINDS
from telemetry.templates import install_templates

from . import demo
from .app import close_app, create_app
from .config import DashboardConfig
from .users import UserStore

PASSWORDS = {"admin": "admin-password-1", "operator": "operator-password-1", "viewer": "viewer-password-1"}
XSS = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss=2\">"


@dataclass
class Seeded:
    prefix: str
    root: str
    trace_id: str
    config: DashboardConfig
    cmdb: Cmdb
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def seeded(es: Any, zookeeper: str, *, elasticsearch: Any, **config: Any) -> Iterator[Seeded]:
    """Documents (a trace, logs with an XSS attempt, errors, metrics, a deploy marker), CMDB users
    admin/operator/viewer, a host and a config value; everything removed afterwards.

    ``es`` writes the documents; the app reads through ``elasticsearch`` (the dashboard's own
    connection: its least-privilege user)."""
    tag = secrets.token_hex(4)
    prefix, root = f"dash{tag}", f"/dashtest-{tag}"
    install_templates(es, prefix=prefix)
    now = datetime.now(timezone.utc)
    trace_id = secrets.token_hex(16)
    docs = demo.demo_trace(now - timedelta(minutes=5), trace_id=trace_id, message=f"order created {XSS}")
    for i in range(5):
        docs += demo.demo_trace(now - timedelta(minutes=10 + i), slow_ms=20 + i)
    docs += demo.host_metrics("web-1", now - timedelta(minutes=30), 60)
    docs.append(demo.deploy_change(now - timedelta(minutes=20)))
    demo.write_documents(es, docs, prefix)
    admin = Cmdb(zookeeper, user="dash-admin", password="cmdb-admin-secret", root=root, actor="setup")
    try:
        users = UserStore(admin)
        for role, password in PASSWORDS.items():
            users.save(role, password, role)
        admin.store.set("production/web/settings", {"pool": 10, "note": XSS}, comment="first")
        admin.inventory.remember(HostFacts("web-1", role="web", environment="production", services=["backend"]))
        app_config = DashboardConfig(elasticsearch=elasticsearch, zookeeper=zookeeper, cmdb_user="dash-admin",
                                     cmdb_password="cmdb-admin-secret", cmdb_root=root, index_prefix=prefix,
                                     **config)
        yield Seeded(prefix, root, trace_id, app_config, admin)
    finally:
        delete_indices(es, f"{prefix}-*")
        for kind in STORED_KINDS:
            es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-{kind}")
        es.options(ignore_status=404).cluster.delete_component_template(name=f"{prefix}-ecs-common")
        admin.client.delete(root, recursive=True)
        admin.close()


class ServedApp:
    """The app on a real HTTP server in a thread (for browsers), on a free loopback port."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="oam-dashboard-test", daemon=True)

    def __enter__(self) -> ServedApp:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.thread.join(10)
        close_app(self.app)


def make_app(seed: Seeded, **flask_config: Any) -> Flask:
    return create_app(seed.config, **flask_config)


def form_login(client: Any, role: str) -> str:
    """Log a Flask test client in through the form as the seeded user ``role``; returns the page's CSRF token."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data={"username": role, "password": PASSWORDS[role], "csrf_token": token})
    assert answer.status_code == 302, f"login as {role} failed: {answer.status_code}"
    return re.search(r'name="csrf-token" content="([^"]+)"',  # type: ignore[union-attr]
                     client.get("/").get_data(as_text=True)).group(1)


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--window-size=1400,1000")


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """Debian's Chromium under Selenium, headless, with a fresh profile (removed afterwards)."""
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="oam-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def log_in(driver: Any, url: str, role: str, password: str | None = None) -> None:
    """Log in through the form as user ``role`` (the seeded one unless ``password`` is given); wait for the header."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/login")
    driver.find_element(By.ID, "username").send_keys(role)
    driver.find_element(By.ID, "password").send_keys(password or PASSWORDS[role])
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(until.presence_of_element_located((By.ID, "who")))
