"""Start and stop the real backing services (Elasticsearch, ZooKeeper) on loopback.

Used by ``oam up``, the test fixtures and the benchmarks. Everything here uses the standard
library only, so the set-up script can run it before the virtualenv exists.
"""
