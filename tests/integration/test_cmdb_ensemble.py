"""Against a 3-node ensemble: losing the leader costs a few seconds, not data or live registrations."""
from __future__ import annotations

import time
import uuid

from cmdb import Cmdb, CmdbError, HostFacts
from foundation.waiting import wait_until


def test_reads_and_writes_resume_within_10s_after_the_leader_stops(zookeeper_ensemble):
    root = f"/ensemble-{uuid.uuid4().hex[:8]}/cmdb"
    conn = zookeeper_ensemble.connection_string
    assert conn.count(",") == 2
    agents = [Cmdb(conn, user="admin", password="pw", root=root) for _ in range(3)]
    operator = Cmdb(conn, user="admin", password="pw", root=root)
    leader = None
    try:
        for n, agent in enumerate(agents):
            agent.inventory.register(HostFacts(f"web-{n}", role="web", environment="prod", services=["web"]))
        operator.store.set("prod/web/db", {"host": "db1"})
        assert {h.facts.name for h in operator.inventory.hosts() if h.live} == {"web-0", "web-1", "web-2"}

        modes = zookeeper_ensemble.modes()
        leader = zookeeper_ensemble.nodes[modes.index("leader")]
        leader.stop()
        stopped_at = time.monotonic()
        def read_and_write() -> float:
            version = operator.store.get("prod/web/db").version
            operator.store.set("prod/web/db", {"host": "db2"}, expect_version=version, comment="after failover")
            return time.monotonic() - stopped_at

        # CmdbError while the ensemble is electing a new leader.
        recovered = wait_until(read_and_write, timeout=10, interval=0.2, retry_on=(CmdbError,),
                               what="a read and a write after losing the leader")
        print(f"reads and writes resumed {recovered:.1f}s after the leader stopped")
        assert operator.store.get("prod/web/db").value == {"host": "db2"}
        assert [r.comment for r in operator.store.history("prod/web/db")] == ["", "after failover"]
        assert {h.facts.name for h in operator.inventory.hosts() if h.live} == {"web-0", "web-1", "web-2"}
        assert sorted(zookeeper_ensemble.modes().count(m) for m in ("leader", "follower")) == [1, 1]
    finally:
        for handle in (*agents, operator):
            handle.close()
        if leader is not None and not leader.running():
            leader.start()  # the ensemble fixture serves the rest of the session
