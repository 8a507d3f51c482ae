"""Zipf key choice and latency percentiles for `oam load`."""
from __future__ import annotations

from collections import Counter

import pytest

from order_service.load import ZipfKeys, percentile
from order_service.shards import shard_of


def test_zipf_keys_favour_the_first_ranks():
    keys = ZipfKeys(100, 1.2, seed=1)
    counts = Counter(keys.next() for _ in range(20_000))
    assert counts["order-1"] > counts["order-2"] > counts["order-10"] > counts.get("order-100", 0)
    expected_top = 1 / sum(1 / k ** 1.2 for k in range(1, 101))
    assert abs(counts["order-1"] / 20_000 - expected_top) < 0.02
    assert set(counts) <= {f"order-{i}" for i in range(1, 101)}


def test_the_same_seed_gives_the_same_keys():
    assert [ZipfKeys(50, 1.0, seed=9).next() for _ in range(5)] == [ZipfKeys(50, 1.0, seed=9).next() for _ in range(5)]


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        ZipfKeys(0, 1.0)
    with pytest.raises(ValueError):
        ZipfKeys(10, 0)


def test_percentiles_use_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50.0, 99.0, 0.0)


def test_shards_are_stable_and_spread():
    assert shard_of("order-1", 4) == shard_of("order-1", 4)
    spread = Counter(shard_of(f"order-{i}", 4) for i in range(1000))
    assert set(spread) == {0, 1, 2, 3} and min(spread.values()) > 180
