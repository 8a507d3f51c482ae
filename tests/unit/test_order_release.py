"""The order service's sandbox releases: what launch.json starts for a good and a failing release."""
from __future__ import annotations

import json

from order_service.release import write_release


def argv_of(directory) -> list[str]:
    return json.loads((directory / "launch.json").read_text())["argv"]


def test_a_good_release_carries_the_hosts_name_and_fails_no_reads(tmp_path):
    argv = argv_of(write_release(tmp_path / "2.0.0", "2.0.0", python="python3", redis_url="redis://h:1/0"))
    assert argv[argv.index("--host-name") + 1] == "$OAM_HOST"
    assert "--fail-order-reads" not in argv and argv[argv.index("--release") + 1] == "2.0.0"


def test_a_release_failing_its_users_fails_that_share_of_reads(tmp_path):
    argv = argv_of(write_release(tmp_path / "4.0.0", "4.0.0", python="python3", redis_url="redis://h:1/0",
                                 fail_reads=0.3))
    assert argv[argv.index("--fail-order-reads") + 1] == "0.3"
    assert argv[argv.index("--redis-url") + 1] == "redis://h:1/0"
