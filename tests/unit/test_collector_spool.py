"""The disk spool: bounded, durable segments, replayed oldest first, one owner at a time."""
from __future__ import annotations

from pathlib import Path

import pytest

from collector.decode import Action
from collector.spool import Spool, SpoolFull, SpoolLocked


def _actions(*ids: str) -> list[Action]:
    return [Action("oam-logs-2026.11.24", doc_id, {"message": doc_id}) for doc_id in ids]


def test_segments_come_back_in_order_and_survive_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(_actions("a", "b"))
    spool.append(_actions("c"))
    spool.close()
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    first = reopened.oldest()
    assert [action.id for action in first.actions()] == ["a", "b"]
    reopened.finish(first, _actions("b"))  # "a" delivered, "b" still pending
    assert [action.id for action in reopened.oldest().actions()] == ["b"]
    reopened.finish(reopened.oldest())
    assert [action.id for action in reopened.oldest().actions()] == ["c"]
    reopened.finish(reopened.oldest())
    assert reopened.empty() and reopened.bytes == 0


def test_full_spool_refuses_and_keeps_what_it_has(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=200)
    spool.append(_actions("a"))
    with pytest.raises(SpoolFull):
        spool.append(_actions(*[f"id-{n}" for n in range(10)]))
    assert len(spool) == 1 and [action.id for action in spool.oldest().actions()] == ["a"]


def test_half_written_segment_from_a_crash_is_discarded(tmp_path: Path) -> None:
    (tmp_path / ".00000000000000000007.tmp").write_text('{"_index": "x", "_id"')
    spool = Spool(tmp_path, max_bytes=1 << 20)
    assert spool.empty()
    spool.append(_actions("a"))
    assert spool.oldest().path.name == "00000000000000000001.ndjson"


def test_one_collector_per_spool_directory(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    with pytest.raises(SpoolLocked):
        Spool(tmp_path, max_bytes=1 << 20)
    spool.close()
    Spool(tmp_path, max_bytes=1 << 20).close()
