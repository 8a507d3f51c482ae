"""What changed before an alert fired, read from a real Elasticsearch: the service's deploys and
CMDB edits in the 30 minutes before, and error groups first seen then; nothing older, nothing of
another service."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from alerts.context import NOTHING, what_changed
from backing_services.ports import free_port
from cmdb.events import configuration_event
from cmdb.records import ChangeRecord
from deployer.events import deployment_event
from foundation.clock import utc_iso
from foundation.elasticsearch import delete_indices
from telemetry.ecs import ServiceInfo, error_document
from telemetry.templates import index_name, install_templates

PREFIX = f"oamcontext{os.getpid()}"
NOW = time.time()


def deploy(service: str, old: str, new: str, user: str, ago: float) -> dict:
    record = {"id": f"d-{new}", "service": service, "version": new, "action": "deploy", "result": "succeeded",
              "user": user, "finished": utc_iso(NOW - ago, "milliseconds"),
              "hosts": [{"host": f"web-{n}", "previous": old, "target": new, "status": "deployed"} for n in (1, 2)]}
    return deployment_event(record, environment="production")


def cmdb_edit(key: str, version: int, user: str, comment: str, ago: float) -> dict:
    record = ChangeRecord(key=key, version=version, action="update", user=user, at=utc_iso(NOW - ago, "milliseconds"),
                          comment=comment, change_id=f"c{version}", had_value=True, old=0.0, has_value=True, new=0.3)
    return configuration_event(record)


def error(service: str, kind: str, ago: float, version: str = "2.0.0") -> dict:
    return error_document(ServiceInfo(service, version=version, environment="production"), kind, f"{kind} happened",
                          f'File "app.py", line 3, in {kind.lower()}', at=utc_iso(NOW - ago, "milliseconds"))


@pytest.fixture
def stored(es_client) -> Iterator[None]:
    install_templates(es_client, prefix=PREFIX)
    changes = [deploy("order-service", "1.0.0", "2.0.0", "alice", 600),
               deploy("order-service", "0.9.0", "1.0.0", "alice", 7200),  # too old
               deploy("gateway", "1.0.0", "1.1.0", "carol", 300),  # another service
               cmdb_edit("production/order-service/faults", 4, "bob", "more failures", 300),
               cmdb_edit("production/gateway/timeout", 2, "bob", "", 200)]
    errors = [error("order-service", "KeyError", 3 * 3600, "1.0.0"), error("order-service", "KeyError", 240),
              error("order-service", "ShardDown", 180), error("order-service", "ShardDown", 60),
              error("gateway", "Timeout", 100)]
    operations = []
    for kind, docs in (("changes", changes), ("errors", errors)):
        for doc in docs:
            operations += [{"create": {"_index": index_name("changes" if kind == "changes" else "errors",
                                                            prefix=PREFIX)}}, doc]
    result = es_client.bulk(operations=operations, refresh=True)
    assert not result["errors"], result
    yield
    delete_indices(es_client, f"{PREFIX}-*")


def test_the_deploy_the_edit_and_the_new_error_group_before_the_alert(es_client, stored):
    lines = what_changed(es_client, PREFIX, NOW, service="order-service", environment="production")
    assert len(lines) == 3, lines
    assert lines[0].endswith("deploy order-service 1.0.0 -> 2.0.0 by alice: succeeded on 2 host(s)")
    assert lines[1].endswith("cmdb-update production/order-service/faults v4 by bob: more failures")
    assert "new error group" in lines[2] and "ShardDown: ShardDown happened (2x, first on 2.0.0)" in lines[2]
    assert not any("KeyError" in line or "gateway" in line for line in lines)


def test_a_quiet_window_says_so_and_an_unreachable_elasticsearch_gives_the_reason(es_client, stored):
    assert what_changed(es_client, PREFIX, NOW - 3 * 86400, service="order-service") == [NOTHING.format(minutes=30)]
    nowhere = Elasticsearch(f"http://127.0.0.1:{free_port()}", request_timeout=2, max_retries=0)
    lines = what_changed(nowhere, PREFIX, NOW, service="order-service")
    assert len(lines) == 1 and lines[0].startswith("what changed could not be read from Elasticsearch: ")
