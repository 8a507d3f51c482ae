"""The line encoder process: it writes the agent's lines; losing it costs no line made after, and the
lines a killed service handed over are still written."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agents.app import AppAgent
from agents.app.encoding import LineEncoder
from agents.app.lines import LineFormat
from agents.app.writer import ENCODER_SETTING, BatchLineWriter
from foundation.waiting import wait_until
from telemetry.context import span, transaction
from telemetry.ecs import ServiceInfo

from requirements import require

SERVICE = ServiceInfo("orders", "2.1.0", "test", "host-7")
ROOT = Path(__file__).resolve().parents[2]
LOG_FORMAT = LineFormat("logs", LineEncoder(SERVICE).prefix)


@pytest.fixture(autouse=True)
def lines_made_by_the_process(monkeypatch):
    monkeypatch.setenv(ENCODER_SETTING, "process")


def log_record(message: str) -> tuple:
    return (time.time(), message, "INFO", "orders", None, None, None, None)


def write(writer: BatchLineWriter, message: str) -> int | None:
    """Submit one log record and flush it; the pid of the encoder process that wrote it (None: the service)."""
    writer.submit(log_record(message))
    writer.flush()
    return writer._thread.encoder.pid


def messages(path: Path) -> list[str]:
    return [json.loads(line)["message"] for line in path.read_text().splitlines()]


def wait_for(condition, timeout: float = 10.0) -> None:
    wait_until(condition, timeout=timeout, interval=0.02, what="the condition")


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_the_agents_lines_are_written_by_its_encoder_process_which_ends_with_the_agent(tmp_path):
    agent = AppAgent(SERVICE, tmp_path).start()
    try:
        with transaction("GET /a"):
            with span("redis GET"):
                logging.getLogger("orders").info("served")
        agent.flush()
        encoder = agent._log_handler.writer._thread.encoder
        pid = encoder.pid
        assert pid is not None and pid != os.getpid()
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:3] == \
            [sys.executable.encode(), b"-m", b"agents.app.encoder_process"]
        assert messages(agent.log_file) == ["served"]
        assert sorted(json.loads(line)["_kind"] for line in agent.span_file.read_text().splitlines()) == \
            ["spans", "transactions"]
    finally:
        agent.shutdown()
    assert not process_exists(pid)


def test_a_killed_encoder_process_costs_no_line_submitted_after_it_and_says_so(tmp_path, caplog):
    writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)
    try:
        encoder_pid = write(writer, "before")
        os.kill(encoder_pid, signal.SIGKILL)
        wait_for(lambda: not process_exists(encoder_pid))
        for number in range(3):
            writer.submit(log_record(f"after {number}"))
        writer.flush()
        assert messages(tmp_path / "log.jsonl") == ["before", "after 0", "after 1", "after 2"]
        assert "line encoder process" in caplog.text and "is gone" in caplog.text
    finally:
        writer.close()


def test_a_new_encoder_process_is_started_after_the_wait(tmp_path):
    writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)
    try:
        writer._thread.encoder.restart_after = 0.2
        first = write(writer, "one")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not process_exists(first))
        write(writer, "two")  # made here: the process is gone
        time.sleep(0.3)
        second = write(writer, "three")
        assert second is not None and second != first
        assert messages(tmp_path / "log.jsonl") == ["one", "two", "three"]
    finally:
        writer.close()


def test_records_that_are_not_plain_data_are_written_by_the_service_itself(tmp_path):
    writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)

    class Odd:
        def __str__(self) -> str:
            return "odd value"

    try:
        writer.submit((time.time(), "plain", "INFO", "orders", None, None, None, None))
        writer.flush()
        writer.submit((time.time(), "with an odd error", "ERROR", "orders", None, None, None,
                       {"type": "X", "message": Odd()}))
        writer.flush()
        lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
        assert [line["message"] for line in lines] == ["plain", "with an odd error"]
        assert lines[1]["error"]["message"] == "odd value"
    finally:
        writer.close()


SERVICE_KILLED_MIDWAY = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {root!r})
    from agents.app.encoding import LineEncoder
    from agents.app.lines import LineFormat
    from agents.app.writer import BatchLineWriter
    from telemetry.ecs import ServiceInfo
    writer = BatchLineWriter({path!r}, LineFormat("logs", LineEncoder(ServiceInfo("s")).prefix), interval=60)
    for number in range(1000):
        writer.submit((time.time(), f"line {{number}}", "INFO", "s", None, None, None, None))
    writer.write_pending()  # handed to the encoder process, not waited for
    print(writer._thread.encoder.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_lines_handed_over_before_the_service_is_killed_are_written_and_the_process_ends(tmp_path):
    path = tmp_path / "log.jsonl"
    service = subprocess.run([sys.executable, "-c", SERVICE_KILLED_MIDWAY.format(root=str(ROOT), path=str(path))],
                             capture_output=True, text=True, timeout=60, env={**os.environ, ENCODER_SETTING: "process"})
    assert service.returncode == -signal.SIGKILL, service.stderr
    encoder_pid = int(service.stdout.split()[0])
    wait_for(lambda: not process_exists(encoder_pid))
    assert messages(path) == [f"line {number}" for number in range(1000)]


def test_a_forked_child_gets_an_encoder_process_of_its_own(tmp_path):
    writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=0.05)
    try:
        parent_encoder = write(writer, "from the parent")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its lines reach the file through a process of its own
            os.write(write_end, str(write(writer, "from the child")).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        child_encoder = int(os.read(read_end, 64))
        assert child_encoder != parent_encoder
        write(writer, "the parent again")
        assert messages(tmp_path / "log.jsonl") == ["from the parent", "from the child", "the parent again"]
        wait_for(lambda: not process_exists(child_encoder))  # the child's process ended with the child
    finally:
        writer.close()


def test_lines_can_be_made_on_the_writer_thread_instead(tmp_path, monkeypatch):
    monkeypatch.setenv(ENCODER_SETTING, "thread")
    writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)
    try:
        writer.submit(log_record("here"))
        writer.flush()
        assert writer._thread.encoder is None
        assert messages(tmp_path / "log.jsonl") == ["here"]
    finally:
        writer.close()


def test_an_encoder_process_that_does_not_start_leaves_the_lines_to_the_service(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once, before saying it is ready
    writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)
    try:
        writer.submit(log_record("made here"))
        writer.flush()
        assert messages(tmp_path / "log.jsonl") == ["made here"]
        assert writer._thread.encoder.pid is None
        assert "did not start" in caplog.text
    finally:
        writer.close()


def test_a_file_the_encoder_cannot_write_costs_only_its_own_lines(tmp_path, capfd):
    full = BatchLineWriter(Path("/dev/full"), LOG_FORMAT, interval=60)  # every write: no space left
    good = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)  # same thread, same encoder process
    try:
        for number in range(2):
            full.submit(log_record(f"lost {number}"))
            full.flush()
            good.submit(log_record(f"kept {number}"))
            good.flush()
        assert messages(tmp_path / "log.jsonl") == ["kept 0", "kept 1"]
        assert "cannot write 1 lines to /dev/full" in capfd.readouterr().err
        assert process_exists(good._thread.encoder.pid)
    finally:
        full.close()
        good.close()


def test_lines_made_by_the_service_come_after_those_the_encoder_process_holds(tmp_path):
    class Text(str):
        """marshal takes no str subclass: the batch holding one is made by the service."""

    writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)
    try:
        encoder_pid = write(writer, "first")
        os.kill(encoder_pid, signal.SIGSTOP)  # it holds the next lines until it is let go on
        threading.Timer(0.5, os.kill, (encoder_pid, signal.SIGCONT)).start()
        for number in range(100):
            writer.submit(log_record(f"line {number}"))
        writer.write_pending()  # handed over, not written yet
        writer.submit(log_record(Text("made by the service")))
        writer.flush()
        assert messages(tmp_path / "log.jsonl") == ["first", *(f"line {number}" for number in range(100)),
                                                    "made by the service"]
    finally:
        writer.close()


def test_acks_are_read_when_the_pipes_are_above_fd_1023(tmp_path):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    require(hard == resource.RLIM_INFINITY or hard >= 1200 or os.geteuid() == 0,
            f"the hard limit on open files is {hard}, below the 1200 this test opens (raise it, or run as root)")
    if hard != resource.RLIM_INFINITY and hard < 1200:
        hard = 1200  # root may raise it
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        writer = BatchLineWriter(tmp_path / "log.jsonl", LOG_FORMAT, interval=60)
        try:
            writer.submit(log_record("high"))
            writer.flush()
            assert writer._thread.encoder._process.stdout.fileno() > 1023
            assert messages(tmp_path / "log.jsonl") == ["high"]
        finally:
            writer.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
