"""Elasticsearch closed (issue item 9): TLS, credentials, no wildcard deletes, one least-privilege user per piece.

Each test tries what an attacker on the machine would, against the session's real, secured node.
"""
from __future__ import annotations

import pytest
import requests
from elasticsearch import AuthorizationException, BadRequestError

from backing_services.elasticsearch import ADMIN_USER
from foundation.elasticsearch import connect

INDEX = "oamsec-logs-2026.01.01"
PRIVATE = "private-notes"


@pytest.fixture
def indices(es_client):
    """An oam index with one document and a non-oam index beside it; both removed afterwards."""
    es_client.index(index=INDEX, id="1", document={"message": "kept"}, refresh=True)
    es_client.index(index=PRIVATE, id="1", document={"secret": "not for the pieces"}, refresh=True)
    yield
    for name in (INDEX, PRIVATE, "oamsec-logs-2026.01.02"):
        es_client.indices.delete(index=name, ignore_unavailable=True)


def test_without_credentials_or_with_a_wrong_password_the_answer_is_401(elasticsearch) -> None:
    url, ca = f"{elasticsearch.url}/_cluster/health", str(elasticsearch.ca_file)
    assert requests.get(url, verify=ca, timeout=10).status_code == 401
    assert requests.get(url, verify=ca, auth=(ADMIN_USER, "wrong"), timeout=10).status_code == 401
    assert requests.get(url, verify=ca, auth=(ADMIN_USER, elasticsearch.password), timeout=10).status_code == 200


def test_plain_http_to_the_tls_port_fails_and_tls_needs_the_suites_ca(elasticsearch) -> None:
    assert elasticsearch.url.startswith("https://")
    with pytest.raises(requests.ConnectionError):
        requests.get(elasticsearch.url.replace("https://", "http://") + "/_cluster/health", timeout=10)
    with pytest.raises(requests.exceptions.SSLError):  # the system's CAs do not know the suite's
        requests.get(elasticsearch.url + "/_cluster/health", timeout=10)


def test_delete_all_and_wildcard_deletes_are_refused_even_for_the_superuser(elasticsearch, es_client,
                                                                           indices) -> None:
    for pattern in ("_all", "oamsec-*", "*"):
        with pytest.raises(BadRequestError, match="Wildcard expressions or all indices are not allowed"):
            es_client.indices.delete(index=pattern)
    assert es_client.indices.exists(index=INDEX) and es_client.indices.exists(index=PRIVATE)
    answer = requests.delete(f"{elasticsearch.url}/_all", verify=str(elasticsearch.ca_file), timeout=10,
                             auth=(ADMIN_USER, elasticsearch.password))
    assert answer.status_code == 400 and es_client.indices.exists(index=INDEX)


def test_the_collector_writes_oam_indices_but_cannot_delete_or_read_others(es_users, es_client, indices) -> None:
    with connect(es_users["collector"]) as collector:
        collector.create(index="oamsec-logs-2026.01.02", id="new", document={"message": "x"})  # creates the index
        assert collector.search(index="oamsec-*", query={"match_all": {}})["hits"]["total"]["value"] >= 1
        for refused in (lambda: collector.indices.delete(index=INDEX),
                        lambda: collector.delete(index=INDEX, id="1"),
                        lambda: collector.search(index=PRIVATE),
                        lambda: collector.index(index=PRIVATE, document={"x": 1}),
                        lambda: collector.security.put_user(username="mallory", password="p4ssw0rd!", roles=[])):
            with pytest.raises(AuthorizationException):
                refused()
    assert es_client.indices.exists(index=INDEX) and es_client.count(index=INDEX)["count"] == 1


def test_the_dashboard_reads_and_cannot_write(es_users, es_client, indices) -> None:
    with connect(es_users["dashboard"]) as dashboard:
        assert dashboard.search(index="oamsec-*")["hits"]["total"]["value"] == 1
        assert dashboard.cluster.health()["status"] in ("green", "yellow")  # the overview shows it
        for refused in (lambda: dashboard.index(index=INDEX, document={"message": "forged"}),
                        lambda: dashboard.delete(index=INDEX, id="1"),
                        lambda: dashboard.indices.create(index="oamsec-logs-2026.01.02"),
                        lambda: dashboard.search(index=PRIVATE)):
            with pytest.raises(AuthorizationException):
                refused()
    assert es_client.count(index=INDEX)["count"] == 1


def test_retention_deletes_indices_by_name_and_reads_no_document(es_users, es_client, indices) -> None:
    with connect(es_users["retention"]) as retention:
        with pytest.raises(AuthorizationException):
            retention.search(index=INDEX)
        with pytest.raises(AuthorizationException):
            retention.indices.delete(index=PRIVATE)
        retention.indices.delete(index=INDEX)
    assert not es_client.indices.exists(index=INDEX) and es_client.indices.exists(index=PRIVATE)
