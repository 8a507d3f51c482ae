"""The telemetry contract in a real Elasticsearch: templates apply, every kind is found by GTX."""
from __future__ import annotations

from telemetry.context import span, transaction
from telemetry.ecs import (
    KINDS,
    STORED_KINDS,
    ServiceInfo,
    change_event,
    document_id,
    error_document,
    log_document,
    metric_document,
    span_document,
    transaction_document,
)
from telemetry.templates import index_name, index_pattern, install_templates

SERVICE = ServiceInfo("backend", "2.0.0", "test", "host-a", "agent-a")


def one_of_each_kind() -> tuple[str, dict[str, dict]]:
    with transaction("GET /orders/{id}") as tx:
        with span("shard-3 SELECT") as sp:
            docs = {
                "logs": log_document(SERVICE, "order 42 loaded from shard 3", "info", "orders",
                                     file_path="/var/log/backend.log", offset=1234),
                "transactions": transaction_document(SERVICE, "GET /orders/{id}", "request", tx,
                                                     duration_ns=12_000_000, http={"response.status_code": 200}),
                "spans": span_document(SERVICE, "shard-3 SELECT", "db", sp, duration_ns=3_000_000,
                                       labels={"shard": "3"}),
                "errors": error_document(SERVICE, "TimeoutError", "shard 3 slow",
                                         'File "shards.py", line 40, in query'),
            }
    # Metrics and change events belong to no request; here they carry the GTX as a label-free
    # field so the test can find them the same way.
    docs["metrics"] = metric_document(SERVICE, {"system.cpu.total.pct": 0.5, "system.memory.used.pct": 0.25})
    docs["metrics"]["trace"] = {"id": tx.trace_id}
    docs["changes"] = change_event(SERVICE, "deployment-finished", "alice", target="backend", old="1.9", new="2.0")
    docs["changes"]["trace"] = {"id": tx.trace_id}
    return tx.trace_id, docs


def test_one_document_of_each_kind_is_found_by_trace_id(es_client):
    assert len(install_templates(es_client)) == len(STORED_KINDS)  # the shipped kinds and the alert history
    install_templates(es_client)  # installing again is harmless
    gtx, docs = one_of_each_kind()
    for kind, doc in docs.items():
        es_client.index(index=index_name(kind), id=document_id(kind, doc), document=doc, op_type="create")
    es_client.indices.refresh(index=index_pattern())

    hits = es_client.search(index=index_pattern(), query={"term": {"trace.id": gtx}}, size=20)["hits"]["hits"]
    found = {hit["_index"].split("-")[1] for hit in hits}
    assert found == set(KINDS)
    assert len(hits) == len(KINDS)


def test_indices_get_the_contract_mappings(es_client):
    install_templates(es_client)
    gtx, docs = one_of_each_kind()
    es_client.index(index=index_name("spans"), id=document_id("spans", docs["spans"]), document=docs["spans"])
    es_client.index(index=index_name("metrics"), document=metric_document(SERVICE, {"app.queue.depth": 3}))
    es_client.index(index=index_name("metrics"), document=metric_document(SERVICE, {"app.queue.depth": 2.5}))
    es_client.indices.refresh(index=index_pattern())

    spans = es_client.indices.get_mapping(index=index_name("spans"))[index_name("spans")]["mappings"]["properties"]
    assert spans["trace"]["properties"]["id"]["type"] == "keyword"
    assert spans["event"]["properties"]["duration"]["type"] == "long"
    assert spans["labels"]["properties"]["shard"]["type"] == "keyword"
    metrics = es_client.indices.get_mapping(index=index_name("metrics"))[index_name("metrics")]["mappings"]
    depth = metrics["properties"]["app"]["properties"]["queue"]["properties"]["depth"]
    assert depth["type"] == "double"  # an integral first sample does not truncate later ones
    settings = es_client.indices.get_settings(index=index_name("spans"))[index_name("spans")]["settings"]["index"]
    assert settings["number_of_replicas"] == "0"


def test_a_retried_create_with_the_same_id_is_not_a_duplicate(es_client):
    from elasticsearch import ConflictError

    install_templates(es_client)
    doc = log_document(SERVICE, "exactly once", file_path="/var/log/x.log", offset=99)
    doc["log"]["file"]["fingerprint"] = "fp-unique-to-this-test"
    doc_id = document_id("logs", doc)
    es_client.index(index=index_name("logs"), id=doc_id, document=doc, op_type="create")
    try:
        es_client.index(index=index_name("logs"), id=doc_id, document=doc, op_type="create")
        raise AssertionError("a second create with the same _id must conflict")
    except ConflictError:
        pass
    es_client.indices.refresh(index=index_name("logs"))
    count = es_client.count(index=index_pattern("logs"), query={"term": {"log.file.fingerprint": "fp-unique-to-this-test"}})
    assert count["count"] == 1


def test_stored_documents_carry_the_ecs_process_host_and_agent_fields_with_their_ecs_types(es_client):
    from telemetry.ecs import LogOrigin, flatten

    install_templates(es_client)
    local = ServiceInfo.local("backend", "2.0.0", "test", agent_id="agent-a", agent_type="oam-app-agent",
                              agent_version="0.1.0")
    with transaction("GET /orders/{id}") as tx:
        with span("shard-3 SELECT") as sp:
            docs = {"logs": log_document(local, "loaded", origin=LogOrigin("orders.py", 12, "load", 140, "MainThread")),
                    "transactions": transaction_document(local, "GET /orders/{id}", "request", tx, duration_ns=1),
                    "spans": span_document(local, "shard-3 SELECT", "db", sp, duration_ns=1),
                    "errors": error_document(local, "TimeoutError", "slow")}
    docs["metrics"] = {**metric_document(local, {"system.cpu.total.pct": 0.5}), "trace": {"id": tx.trace_id}}
    docs["changes"] = {**change_event(local, "deployment-finished", "alice", target="backend"),
                       "trace": {"id": tx.trace_id}}
    for kind, doc in docs.items():
        es_client.index(index=index_name(kind), id=document_id(kind, doc), document=doc, op_type="create")
    es_client.indices.refresh(index=index_pattern())
    hits = es_client.search(index=index_pattern(), query={"term": {"trace.id": tx.trace_id}}, size=20)["hits"]["hits"]
    assert {hit["_index"].split("-")[1] for hit in hits} == set(KINDS)
    for hit in hits:
        stored = flatten(hit["_source"])
        for key in ("ecs.version", "host.os.type", "host.architecture", "agent.type", "agent.version", "process.pid"):
            assert stored.get(key), (hit["_index"], key)
    logs = es_client.indices.get_mapping(index=index_name("logs"))[index_name("logs")]["mappings"]["properties"]
    assert logs["host"]["properties"]["ip"]["type"] == "ip"
    assert logs["process"]["properties"]["pid"]["type"] == "long"
    assert logs["process"]["properties"]["thread"]["properties"]["id"]["type"] == "long"
    assert logs["log"]["properties"]["origin"]["properties"]["file"]["properties"]["line"]["type"] == "long"
    assert logs["ecs"]["properties"]["version"]["type"] == "keyword"
    change = next(flatten(hit["_source"]) for hit in hits if "-changes-" in hit["_index"])
    assert (change["event.category"], change["event.type"], change["event.action"]) == (
        "configuration", "change", "deployment-finished")
