"""Pid files hold the bare pid (``kill $(cat x.pid)``, systemd's ``PIDFile=``); a stale one is reaped safely."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from backing_services.process import ManagedProcess, pid_alive, read_pid, reap_stale
from foundation.waiting import wait_until


def test_a_managed_process_writes_its_bare_pid_and_kill_cat_stops_it(tmp_path):
    process = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path,
                             log_path=tmp_path / "sleeper.log", pid_file=tmp_path / "sleeper.pid")
    process.start()
    try:
        assert (tmp_path / "sleeper.pid").read_text() == f"{process.pid}\n"
        subprocess.run(["sh", "-c", f"kill $(cat {tmp_path / 'sleeper.pid'})"], check=True)
        assert wait_until(lambda: not process.running(), timeout=10, interval=0.05, what="the process to stop")
    finally:
        process.stop(timeout=5)
    assert not (tmp_path / "sleeper.pid").exists()


def test_reap_stale_stops_the_process_its_pid_file_names(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    pid_file = tmp_path / "left.pid"
    pid_file.write_text(f"{child.pid}\n")
    assert reap_stale(pid_file)
    assert child.wait(timeout=10) is not None and not pid_file.exists()


def test_reap_stale_leaves_a_process_that_started_after_the_pid_file_was_written(tmp_path):
    pid_file, old = tmp_path / "old.pid", time.time() - 3600
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        pid_file.write_text(f"{child.pid}\n")
        os.utime(pid_file, (old, old))  # written an hour ago: the pid now belongs to a newer process
        assert not reap_stale(pid_file)
        assert pid_alive(child.pid) and not pid_file.exists()
    finally:
        child.kill()
        child.wait()


def test_read_pid_is_none_for_a_missing_or_garbled_file(tmp_path):
    assert read_pid(tmp_path / "none.pid") is None
    (tmp_path / "bad.pid").write_text('{"pid": 12}')
    assert read_pid(tmp_path / "bad.pid") is None


def test_the_sample_releases_restart_script_writes_a_bare_pid(tmp_path):
    from order_service.sample_release import write_restart

    write_restart(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    shared = tmp_path / "shared"
    env = {**os.environ, "OAM_SHARED_DIR": str(shared), "OAM_DEPLOY_ROOT": str(tmp_path)}
    subprocess.run([sys.executable, str(tmp_path / "bin" / "restart")], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=30)
    pid = (shared / "app.pid").read_text()
    assert pid.endswith("\n") and pid.strip().isdigit()
    os.kill(int(pid), 15)
