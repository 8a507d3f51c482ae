"""How a cluster is configured: each node's discovery and transport TLS, `oam up`'s `[elasticsearch] nodes`."""
from __future__ import annotations

from pathlib import Path

from backing_services.elasticsearch import ElasticsearchCluster, ElasticsearchServer
from foundation.suite import suite_elasticsearch
from oam.config import ElasticsearchSettings, Settings
from oam.servers import ElasticsearchComponent


def test_each_node_finds_the_others_and_talks_to_them_over_tls(tmp_path: Path):
    cluster = ElasticsearchCluster(tmp_path / "es", 3, http_ports=[9201, 9202, 9203],
                                   transport_ports=[9301, 9302, 9303])
    settings = [node._settings() for node in cluster.nodes]
    assert [s["node.name"] for s in settings] == ["oam-node-1", "oam-node-2", "oam-node-3"]
    assert {s["cluster.name"] for s in settings} == {"oam-cluster-9201"}
    assert [s["transport.port"] for s in settings] == [9301, 9302, 9303]
    for one in settings:
        assert one["discovery.seed_hosts"] == ["127.0.0.1:9301", "127.0.0.1:9302", "127.0.0.1:9303"]
        assert one["cluster.initial_master_nodes"] == ["oam-node-1", "oam-node-2", "oam-node-3"]
        assert "discovery.type" not in one
        assert one["xpack.security.transport.ssl.enabled"] is True
        assert one["xpack.security.transport.ssl.verification_mode"] == "full"
    assert {node.ca.directory for node in cluster.nodes} == {tmp_path / "es-ca"}  # one CA signs every node
    assert cluster.connection().hosts == ["https://127.0.0.1:9201", "https://127.0.0.1:9202",
                                          "https://127.0.0.1:9203"]
    single = ElasticsearchServer(tmp_path / "one", http_port=9200)._settings()
    assert single["discovery.type"] == "single-node" and single["xpack.security.transport.ssl.enabled"] is False


def test_oam_up_runs_a_cluster_by_configuration_and_every_piece_gets_every_node(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, elasticsearch=ElasticsearchSettings(nodes=3, port=9400,
                                                                               transport_port=9500))
    component = ElasticsearchComponent(settings)
    assert isinstance(component.server, ElasticsearchCluster)
    assert [node.http_port for node in component.server.nodes] == [9400, 9401, 9402]
    assert [node.transport_port for node in component.server.nodes] == [9500, 9501, 9502]
    assert suite_elasticsearch(settings, "collector")["hosts"] == [
        "https://127.0.0.1:9400", "https://127.0.0.1:9401", "https://127.0.0.1:9402"]
    assert settings.elasticsearch.replicas == 1 and Settings(data_dir=tmp_path).elasticsearch.replicas == 0
    assert isinstance(ElasticsearchComponent(Settings(data_dir=tmp_path)).server, ElasticsearchServer)
