"""The benchmark's peer, Debian's rsyslog (imfile -> omelasticsearch), against the session's secured Elasticsearch."""
from __future__ import annotations

import uuid

from elasticsearch import ApiError

from backing_services.elasticsearch import ADMIN_USER
from backing_services.process import pid_alive
from backing_services.rsyslog import Output, RsyslogShipper
from foundation.waiting import wait_until

from requirements import require


def test_rsyslog_ships_the_lines_of_a_file_and_those_appended_later(elasticsearch, es_client, run_dir):
    require(RsyslogShipper.installed(), "rsyslog and rsyslog-elasticsearch (scripts/setup installs them)")
    index = f"rsyslog-test-{uuid.uuid4().hex[:8]}"
    base = run_dir / f"rsyslog-{index}"
    logs = base / "logs"
    logs.mkdir(parents=True)
    logs.chmod(0o755)
    path = logs / "app.log"
    path.write_text("".join(f"early line {n}\n" for n in range(10)))
    path.chmod(0o644)
    output = Output(port=elasticsearch.http_port, user=ADMIN_USER, password=elasticsearch.password, index=index,
                    ca_file=str(elasticsearch.ca.cert_path))
    shipper = RsyslogShipper(base / "rsyslog", str(logs / "*.log"), output)
    shipper.start()
    try:
        with open(path, "a") as handle:
            handle.write("".join(f"late line {n}\n" for n in range(5)))

        def stored() -> list[dict]:
            assert shipper.running(), shipper.log_tail()
            es_client.indices.refresh(index=index)
            hits = es_client.search(index=index, size=100)["hits"]["hits"]
            return [hit["_source"] for hit in hits] if len(hits) >= 15 else []

        documents = wait_until(stored, timeout=45, interval=0.5, what="15 lines from rsyslog", retry_on=(ApiError,))
    finally:
        shipper.stop()
    assert sorted(doc["message"] for doc in documents) == sorted(
        [f"early line {n}" for n in range(10)] + [f"late line {n}" for n in range(5)])
    assert {doc["log.file.path"] for doc in documents} == {str(path)}
    assert {doc["agent.type"] for doc in documents} == {"rsyslog"}
    assert all(doc["@timestamp"] for doc in documents)
    assert shipper.pid is not None and not shipper.running() and not pid_alive(shipper.pid)
