"""Export the tree as YAML, wipe it, import it: the tree is identical. Dry runs change nothing."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from cmdb import Cmdb, HostFacts, InvalidValue, dump_yaml, export_tree, import_tree, load_yaml


@pytest.fixture
def open_cmdb(zookeeper) -> Iterator[Callable[..., Cmdb]]:
    root = f"/oam-test-{uuid.uuid4().hex[:10]}/cmdb"
    opened: list[Cmdb] = []

    def open_() -> Cmdb:
        handle = Cmdb(zookeeper.connection_string, user="admin", password="pw", root=root)
        opened.append(handle)
        return handle

    yield open_
    for handle in opened:
        handle.close()


def _populate(handle: Cmdb) -> None:
    handle.schemas.register("*/web/db", {"type": "object", "required": ["host"]})
    handle.store.set("prod/web/db", {"host": "db1", "pool": 20})
    handle.store.set("prod/web/db", {"host": "db2", "pool": 20})
    handle.store.set("prod/web/feature-flags", {"beta": ["eu"], "dark_mode": True})
    handle.store.set("prod/web/db/replica", {"host": "db3"})
    handle.store.set("staging/api/motd", "hello\nworld ünïcode")
    handle.store.set("staging/api/limits", [1, 2.5, None, False])
    handle.inventory.remember(HostFacts("web-1", role="web", environment="prod", addresses=["10.0.0.5"],
                                        labels={"rack": "a"}, services=["web"]))


def test_export_wipe_import_gives_an_identical_tree(open_cmdb):
    handle = open_cmdb()
    _populate(handle)
    text = dump_yaml(export_tree(handle))

    handle.client.delete(handle.layout.root.rsplit("/", 1)[0], recursive=True)  # wipe everything
    handle.close()
    fresh = open_cmdb()
    assert fresh.store.keys() == []

    changes = import_tree(fresh, load_yaml(text))
    assert len(changes) == 7  # 1 schema, 5 values, 1 host
    assert dump_yaml(export_tree(fresh)) == text
    assert fresh.store.history("prod/web/db")[-1].action == "import"


def test_a_dry_run_prints_the_diff_and_changes_nothing(open_cmdb):
    handle = open_cmdb()
    _populate(handle)
    document = export_tree(handle)
    document["config"]["prod/web/db"]["pool"] = 40
    document["config"]["dev/web/db"] = {"host": "localhost"}
    del document["config"]["staging/api/motd"]
    before = dump_yaml(export_tree(handle))

    planned = import_tree(handle, load_yaml(dump_yaml(document)), dry_run=True, prune=True)
    assert [(c.kind, c.name, c.action) for c in planned] == [
        ("config", "dev/web/db", "create"), ("config", "prod/web/db", "update"),
        ("config", "staging/api/motd", "delete")]
    assert '-  "pool": 20' in planned[1].diff() and '+  "pool": 40' in planned[1].diff()
    assert dump_yaml(export_tree(handle)) == before

    without_prune = import_tree(handle, load_yaml(dump_yaml(document)))
    assert [c.name for c in without_prune] == ["dev/web/db", "prod/web/db"]
    assert handle.store.get("prod/web/db").value["pool"] == 40 and handle.store.exists("staging/api/motd")


def test_a_file_with_one_bad_value_imports_nothing(open_cmdb):
    handle = open_cmdb()
    _populate(handle)
    document = export_tree(handle)
    document["config"]["prod/web/cache"] = {"ttl": 60}
    document["config"]["dev/web/db"] = {"pool": 1}  # no host: breaks the schema
    before = dump_yaml(export_tree(handle))
    with pytest.raises(InvalidValue, match="nothing imported: dev/web/db violates the schema for '\\*/web/db'"):
        import_tree(handle, load_yaml(dump_yaml(document)))
    assert dump_yaml(export_tree(handle)) == before
