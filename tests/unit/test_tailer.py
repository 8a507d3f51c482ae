"""Tailing by content: rename and copy-truncate rotation, restarts, partial lines."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from agents.host.checkpoints import CheckpointStore
from agents.host.tailer import Tailer


class App:
    """Writes numbered lines to a log, the way an application appends to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.next = 0

    def write(self, count: int) -> None:
        with open(self.path, "a") as handle:
            for _ in range(count):
                handle.write(f'{{"n": {self.next}, "message": "line {self.next} of the test application"}}\n')
                self.next += 1


def drain(tailer: Tailer, ack: bool = True) -> list[str]:
    """Scan and read until nothing is left; acknowledge what was read."""
    texts = []
    for _ in range(10):
        tailer.scan()
        lines = tailer.read()
        if not lines:
            continue
        texts += [line.text for line in lines]
        if ack:
            for line in lines:
                tailer.ack(line.file_id, line.end)
            tailer.store.save()
    return texts


def numbers(texts: list[str]) -> list[int]:
    return [int(text.split('"n": ')[1].split(",")[0]) for text in texts]


def test_rename_rotation_loses_and_repeats_nothing(tmp_path):
    app = App(tmp_path / "app.log")
    tailer = Tailer([str(tmp_path / "app.log*")], CheckpointStore(tmp_path / "cp.json"))
    seen = []
    for round_ in range(5):
        app.write(100)
        seen += drain(tailer)
        app.write(37)  # written after the last read, before rotation
        os.rename(tmp_path / "app.log", tmp_path / f"app.log.{round_ + 1}")
        app.write(10)  # the app reopens a new app.log
        seen += drain(tailer)
    assert sorted(numbers(seen)) == list(range(app.next))


def test_copy_truncate_rotation_loses_and_repeats_nothing(tmp_path):
    app = App(tmp_path / "app.log")
    tailer = Tailer([str(tmp_path / "app.log*")], CheckpointStore(tmp_path / "cp.json"))
    seen = []
    for round_ in range(5):
        app.write(100)
        seen += drain(tailer)
        app.write(25)  # not read yet when logrotate copies and truncates
        shutil.copyfile(tmp_path / "app.log", tmp_path / f"app.log.{round_ + 1}")
        os.truncate(tmp_path / "app.log", 0)
        app.write(10)
        seen += drain(tailer)
    assert sorted(numbers(seen)) == list(range(app.next))


def test_truncation_noticed_before_the_copy_still_resumes_from_the_copy(tmp_path):
    app = App(tmp_path / "app.log")
    tailer = Tailer([str(tmp_path / "app.log*")], CheckpointStore(tmp_path / "cp.json"))
    app.write(50)
    seen = drain(tailer)
    app.write(20)
    copy = tmp_path / "copy-pending"
    shutil.copyfile(tmp_path / "app.log", copy)
    os.truncate(tmp_path / "app.log", 0)
    seen += drain(tailer)        # sees the truncation; the copy is not there yet
    os.rename(copy, tmp_path / "app.log.1")
    app.write(5)
    seen += drain(tailer)
    assert sorted(numbers(seen)) == list(range(app.next))


def test_a_restart_rereads_exactly_the_unacknowledged_lines(tmp_path):
    app = App(tmp_path / "app.log")
    checkpoints = tmp_path / "cp.json"
    first = Tailer([str(tmp_path / "*.log")], CheckpointStore(checkpoints))
    app.write(30)
    first.scan()
    lines = first.read()
    for line in lines[:12]:
        first.ack(line.file_id, line.end)
    first.store.save()
    # Crash: the last 18 lines were read but never acknowledged.
    second = Tailer([str(tmp_path / "*.log")], CheckpointStore(checkpoints))
    second.scan()
    again = second.read()
    assert numbers([line.text for line in again]) == list(range(12, 30))
    # Same file id and offsets as before the crash: the collector drops the repeats by _id.
    assert [(line.file_id, line.offset) for line in again] == [(line.file_id, line.offset) for line in lines[12:]]


def test_partial_lines_wait_for_their_newline(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("complete\npart")
    tailer = Tailer([str(path)], CheckpointStore(tmp_path / "cp.json"))
    tailer.scan()
    assert [line.text for line in tailer.read()] == ["complete"]
    with open(path, "a") as handle:
        handle.write("ial\n")
    assert [line.text for line in tailer.read()] == ["partial"]


def test_a_file_deleted_while_open_is_read_to_the_end(tmp_path):
    app = App(tmp_path / "app.log")
    tailer = Tailer([str(tmp_path / "app.log")], CheckpointStore(tmp_path / "cp.json"))
    app.write(5)
    seen = drain(tailer)
    handle_kept = open(tmp_path / "app.log", "a")
    handle_kept.write('{"n": 5, "message": "last words"}\n')
    handle_kept.flush()
    os.unlink(tmp_path / "app.log")
    seen += drain(tailer)
    handle_kept.close()
    assert numbers(seen) == list(range(6))
    assert not tailer.open  # finished and closed once read to the end


def test_files_unseen_for_a_day_are_forgotten(tmp_path):
    app = App(tmp_path / "app.log")
    tailer = Tailer([str(tmp_path / "app.log")], CheckpointStore(tmp_path / "cp.json"))
    app.write(3)
    drain(tailer)
    os.unlink(tmp_path / "app.log")
    drain(tailer)  # read to the end and closed
    (state,) = tailer.store.states.values()
    state.last_seen -= 2 * 86400
    tailer.scan()
    assert tailer.store.states == {}


def test_a_truncation_written_past_the_old_position_is_still_noticed(tmp_path):
    """copy-truncate, then the app writes more than was read before: no line read twice."""
    app = App(tmp_path / "app.log")
    tailer = Tailer([str(tmp_path / "app.log*")], CheckpointStore(tmp_path / "cp.json"))
    app.write(20)
    seen = drain(tailer)
    app.write(10)  # unread when the copy is taken
    shutil.copyfile(tmp_path / "app.log", tmp_path / "app.log.1")
    os.truncate(tmp_path / "app.log", 0)
    app.write(200)  # the new content is already longer than the old read position
    lines = tailer.read()  # a read before any scan notices the rotation
    for line in lines:
        tailer.ack(line.file_id, line.end)
    seen += [line.text for line in lines] + drain(tailer)
    assert sorted(numbers(seen)) == list(range(app.next))
