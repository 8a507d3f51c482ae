"""How every piece reaches the suite's Elasticsearch: TLS with the suite's CA, each piece as its own user."""
from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import _elasticsearch
from foundation.elasticsearch import ElasticsearchConnection
from foundation.settings import SettingsError
from foundation.suite import suite_elasticsearch
from oam.config import Settings
from telemetry.access import COLLECTOR, READER, RETENTION, roles


def test_each_piece_gets_its_own_user_over_tls_and_security_false_is_open_http(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    collector = ElasticsearchConnection(**suite_elasticsearch(settings, "collector"))
    assert collector.hosts == ["https://127.0.0.1:9200"] and collector.username == "oam-collector"
    assert collector.password_file == str(tmp_path / "run" / "elasticsearch-collector.password")
    assert collector.ca_file == str(tmp_path / "elasticsearch-ca" / "ca.crt")
    assert suite_elasticsearch(settings, "dashboard")["username"] == "oam-dashboard"
    settings.elasticsearch.security = False
    assert suite_elasticsearch(settings, "retention") == {"hosts": ["http://127.0.0.1:9200"]}


def test_the_dashboards_options_override_the_suites_connection(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert _elasticsearch(settings, {})["username"] == "oam-dashboard"
    other = _elasticsearch(settings, {"elasticsearch": "https://es1:9200, https://es2:9200", "es_user": "reader",
                                      "es_password": "pw", "es_ca_file": "/etc/oam/ca.pem"})
    assert other == {"hosts": ["https://es1:9200", "https://es2:9200"], "username": "reader", "password": "pw",
                     "ca_file": "/etc/oam/ca.pem"}


def test_the_password_comes_from_its_file_and_a_missing_ca_is_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    options = ElasticsearchConnection(username="u", password_file=str(secret)).client_options()
    assert options["basic_auth"] == ("u", "s3cret") and "verify_certs" not in options
    with pytest.raises(SettingsError, match=r"^elasticsearch.ca_file: /nowhere/ca.crt does not exist$"):
        ElasticsearchConnection(ca_file="/nowhere/ca.crt").client_options()


def test_no_role_may_do_more_than_its_piece_needs() -> None:
    bodies = roles(["oam-*"])
    assert bodies[COLLECTOR]["indices"] == [{"names": ["oam-*"], "privileges": ["create_doc", "auto_configure",
                                                                                   "read"]}]
    assert bodies[READER]["indices"][0]["privileges"] == ["read"] and bodies[READER]["cluster"] == ["monitor"]
    assert bodies[RETENTION] == {"cluster": [], "indices": [{"names": ["oam-*"], "privileges": [
        "view_index_metadata", "delete_index"]}]}
    every = [p for body in bodies.values() for grant in body["indices"] for p in grant["privileges"]]
    assert not {"all", "write", "delete", "manage", "index"} & set(every)
