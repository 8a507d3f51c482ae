"""Alerting in the local suite: an SMTP server whose mailbox ``oam alerts mail`` prints, an
Alertmanager that mails every alert to it, and the rule evaluator with the default rule pack.

The evaluator logs in to the CMDB as ``oam-alerts`` (read the tree; write its state and its
election) and reads Elasticsearch as the read-only user; the pack and the rule schema are written
by ``oam up`` itself (the admin) just before the evaluator starts.
"""
from __future__ import annotations

import requests

from alerts.amconfig import alertmanager_config
from alerts.evaluator import election_path
from alerts.rule_pack import install_pack
from alerts.store import install_schema, state_root
from backing_services.alertmanager import AlertmanagerServer
from backing_services.smtp import SmtpServer, greets
from cmdb import Cmdb
from foundation.suite import smtp_dir
from foundation.waiting import NotReady

from .component import Component, ServerComponent, ServiceStatus
from .config import Settings
from .programs import ProgramComponent
from .sandbox import ENVIRONMENT
from .suite_secrets import cmdb_credentials

MAIL_TO = "ops@localhost"


def suite_alertmanager_config(smtp: str) -> str:
    """The Alertmanager configuration ``oam up`` runs: mail to :data:`MAIL_TO` through ``smtp``.

    Every alert is a group of its own (``group_by: [...]``), so ``group_wait`` batches nothing and
    only delays the first mail: 2 s lets the alerts of one evaluation round arrive together."""
    return alertmanager_config(smtp, to=MAIL_TO, group_wait="2s", group_interval="1m")
SAMPLE_SERVICES = ("gateway", "backend")


class SmtpComponent(ServerComponent):
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.port = settings.ports.smtp
        self.server = SmtpServer(smtp_dir(settings.data_dir), self.port, settings.host)  # type: ignore[assignment]

    def probe(self) -> ServiceStatus:
        try:
            healthy = greets(self.port, self.server.host)
        except NotReady:
            healthy = False
        return ServiceStatus(self.name, f"smtp://{self.server.address}", healthy,
                             f"mailbox {self.server.mailbox}" if healthy else "not answering")


class AlertmanagerComponent(ServerComponent):
    name = "alertmanager"

    def __init__(self, settings: Settings) -> None:
        self.port = settings.ports.alertmanager
        config = suite_alertmanager_config(f"{settings.host}:{settings.ports.smtp}")
        self.server = AlertmanagerServer(settings.data_dir / "alertmanager", config,  # type: ignore[assignment]
                                         web_port=self.port, host=settings.host)

    def probe(self) -> ServiceStatus:
        try:
            answer = requests.get(f"{self.server.url}/api/v2/status", timeout=3).json()
            version = answer["versionInfo"]["version"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            return ServiceStatus(self.name, self.server.url, False, f"not answering ({type(exc).__name__})")
        return ServiceStatus(self.name, self.server.url, True, f"version {version}")


def rules_prepare(settings: Settings) -> list[str]:
    """Register the rule schema, write the default rules that were never written, and make the
    evaluator's election and state nodes (as the admin)."""
    admin = cmdb_credentials(settings, "admin")
    services = [*SAMPLE_SERVICES, *([settings.sandbox.service] if settings.sandbox.hosts else [])]
    with Cmdb(f"{settings.host}:{settings.zookeeper.port}", user=admin["OAM_CMDB_USER"],
              password=admin["OAM_CMDB_PASSWORD"], root=settings.cmdb.root, actor="oam up") as cmdb:
        install_schema(cmdb)
        install_pack(cmdb, ENVIRONMENT, services)
        cmdb.ensure_root()
        for path in (election_path(cmdb, ENVIRONMENT), state_root(cmdb, ENVIRONMENT)):
            # Made here, with the policy's ACL (the evaluator's grant in it), also over a node an
            # earlier run made otherwise: the evaluator may not create nodes above its scopes.
            cmdb.make_path(path)
            cmdb.client.set_acls(path, cmdb.acl_for(path))
    return []


def components(settings: Settings, suite: list[str]) -> list[Component]:
    """The SMTP server, Alertmanager and the evaluator, in start order."""
    host, ports = settings.host, settings.ports
    evaluator = ProgramComponent(
        "alerts", [*suite, "alerts", "-e", ENVIRONMENT, "run", "--alertmanager", f"http://{host}:{ports.alertmanager}",
                   "--dashboard-url", f"http://{host}:{ports.dashboard}", "--identity", "oam-up"],
        settings.data_dir / "suite", host, prepare=lambda: rules_prepare(settings),
        environment=lambda: cmdb_credentials(settings, "alerts"))
    return [SmtpComponent(settings), AlertmanagerComponent(settings), evaluator]
