"""Batches: canary hosts first, then fixed-size batches in configuration order."""
from __future__ import annotations

import pytest

from deployer.plan import PlanError, default_batch_size, plan_batches


def test_batches_in_order():
    assert plan_batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert plan_batches(list("abc"), 10) == [["a", "b", "c"]]


def test_canary_goes_alone_first():
    assert plan_batches(list("abcdef"), 2, canary=1) == [["a"], ["b", "c"], ["d", "e"], ["f"]]
    assert plan_batches(list("abcdef"), 3, canary=2) == [["a", "b"], ["c", "d", "e"], ["f"]]


@pytest.mark.parametrize("hosts, batch, canary, message", [
    ([], 1, 0, "no hosts"),
    (["a"], 0, 0, "batch size must be at least 1"),
    (["a", "b"], 1, 2, "canary must be between 0 and 1"),
    (["a", "b"], 1, -1, "canary must be between"),
])
def test_impossible_plans_are_refused(hosts, batch, canary, message):
    with pytest.raises(PlanError, match=message):
        plan_batches(hosts, batch, canary)


@pytest.mark.parametrize("count, size", [(1, 1), (3, 1), (4, 1), (10, 2), (40, 10)])
def test_default_batch_is_a_quarter(count, size):
    assert default_batch_size(count) == size
