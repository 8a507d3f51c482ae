"""The canary verdict: each check's decision and the figures it gives, from samples of known content."""
from __future__ import annotations

import random

import pytest

from deployer.analysis import FAIL, INCONCLUSIVE, PASS, AnalysisSettings, Sample, inconclusive, judge


def settings(**checks) -> AnalysisSettings:
    return AnalysisSettings.model_validate({"checks": checks})


def durations(median: float, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(0, 0.3) * median for _ in range(n)]


def sample(requests: int, errors: int, median: float = 20.0, groups: dict | None = None, seed: int = 1) -> Sample:
    return Sample(requests, errors, durations(median, requests, seed), groups or {})


def by_check(verdict):
    return {c.check: c for c in verdict.checks}


def test_a_release_like_its_baseline_passes_every_check():
    verdict = judge(sample(200, 2, seed=1), sample(200, 3, seed=2, groups={"g1": 3}), AnalysisSettings())
    assert verdict.result == PASS and verdict.passed
    checks = by_check(verdict)
    assert [c.result for c in checks.values()] == [PASS, PASS, PASS]
    assert checks["error_rate"].new == pytest.approx(0.01) and checks["error_rate"].baseline == pytest.approx(0.015)
    assert checks["error_rate"].p_value > 0.5 and (checks["error_rate"].new_count, checks["error_rate"].baseline_count) \
        == (200, 200)


def test_a_third_of_failed_requests_fails_the_error_rate_with_its_figures():
    verdict = judge(sample(90, 30), sample(180, 1, seed=2), AnalysisSettings())
    check = by_check(verdict)["error_rate"]
    assert verdict.result == FAIL and not verdict.passed
    assert check.result == FAIL and check.new == pytest.approx(1 / 3) and check.baseline == pytest.approx(1 / 180)
    assert check.difference == pytest.approx(1 / 3 - 1 / 180)
    assert check.p_value < 1e-9 and check.threshold == "p < 0.05 and difference > 0.02"
    assert "error_rate" in verdict.reason
    assert "error_rate FAIL: new 0.3333, baseline 0.005556" in check.line()


def test_a_significant_but_small_error_difference_is_tolerated():
    big = settings(error_rate={"max_difference": 0.05})
    check = by_check(judge(sample(5000, 200), sample(5000, 100, seed=2), big))["error_rate"]
    assert check.p_value < 0.001 and check.difference == pytest.approx(0.02)
    assert check.result == PASS


def test_max_difference_method_has_no_p_value():
    rule = settings(error_rate={"method": "max-difference", "max_difference": 0.1})
    check = by_check(judge(sample(50, 10), sample(50, 1, seed=2), rule))["error_rate"]
    assert (check.result, check.p_value, check.threshold) == (FAIL, None, "difference > 0.1")


def test_five_times_slower_fails_latency_and_a_tiny_shift_does_not():
    slow = by_check(judge(sample(60, 0, median=100), sample(60, 0, median=20, seed=2), AnalysisSettings()))["latency"]
    assert slow.result == FAIL and slow.p_value < 1e-6
    assert slow.new > 4 * slow.baseline and slow.details["effect_size"] > 0.9
    tiny = by_check(judge(sample(3000, 0, median=20.6), sample(3000, 0, median=20, seed=2), AnalysisSettings()))
    assert tiny["latency"].p_value < 0.05 and tiny["latency"].result == PASS  # significant, but within the tolerance


def test_faster_is_never_a_failure():
    check = by_check(judge(sample(60, 0, median=5), sample(60, 0, median=50, seed=2), AnalysisSettings()))["latency"]
    assert check.result == PASS and check.p_value > 0.99


def test_error_groups_seen_only_on_the_new_release_fail():
    verdict = judge(sample(100, 1, groups={"old": 1, "KeyError:orders": 4}), sample(100, 1, seed=2, groups={"old": 2}),
                    AnalysisSettings())
    check = by_check(verdict)["new_errors"]
    assert (check.result, check.new, check.details["groups"]) == (FAIL, 1.0, {"KeyError:orders": 4})
    assert "KeyError:orders" in check.reason
    rare = settings(new_errors={"min_count": 5})
    assert by_check(judge(sample(100, 1, groups={"x": 4}), sample(100, 1, seed=2), rare))["new_errors"].result == PASS


def test_too_few_requests_is_inconclusive_and_on_inconclusive_decides():
    few = judge(sample(5, 0), sample(300, 0, seed=2), AnalysisSettings())
    assert few.result == INCONCLUSIVE and not few.passed
    assert "too few requests on new (at least 20 needed)" in few.reason
    lenient = AnalysisSettings.model_validate({"on_inconclusive": "pass"})
    assert judge(sample(5, 0), sample(300, 0, seed=2), lenient).passed


def test_no_traffic_at_all_is_inconclusive():
    verdict = judge(Sample(0, 0), Sample(0, 0), AnalysisSettings())
    assert verdict.result == INCONCLUSIVE and verdict.reason == "no requests reached the new release during the bake"
    assert "verdict INCONCLUSIVE (on_inconclusive: fail)" in verdict.summary()


def test_a_failure_outweighs_an_inconclusive_check():
    verdict = judge(sample(25, 12, groups={"boom": 3}), Sample(5, 0, durations(20, 5, 3)), AnalysisSettings())
    assert verdict.result == FAIL and by_check(verdict)["error_rate"].result == INCONCLUSIVE


def test_disabled_checks_are_not_run_and_the_record_holds_every_figure():
    verdict = judge(sample(50, 0), sample(50, 0, seed=2), settings(latency={"enabled": False}))
    assert [c.check for c in verdict.checks] == ["error_rate", "new_errors"]
    record = verdict.record()
    assert record["result"] == PASS and record["passed"] is True
    assert set(record["checks"][0]) >= {"check", "result", "new", "baseline", "threshold", "p_value", "difference",
                                        "new_count", "baseline_count", "reason"}


def test_unreadable_telemetry_is_inconclusive_with_the_reason():
    verdict = inconclusive("Elasticsearch unreachable: ConnectionError", "pass")
    assert verdict.result == INCONCLUSIVE and verdict.passed and verdict.checks == ()
    assert verdict.summary().endswith("Elasticsearch unreachable: ConnectionError")
