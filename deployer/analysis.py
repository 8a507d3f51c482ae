"""The canary verdict: a batch's hosts (new release) against a baseline, on figures of the same window.

Pure: :func:`judge` takes two :class:`Sample` (what :mod:`deployer.samples` reads from
Elasticsearch) and the ``analysis`` settings and returns a :class:`Verdict` that carries every
figure it was taken on. Three checks, each configurable or off:

* ``error_rate`` — the share of failed requests. ``method: "z-test"``: a one-sided
  two-proportion z-test (the new release fails more often, p < ``alpha``) whose difference is
  also above ``max_difference``; ``method: "max-difference"``: the difference alone.
* ``latency`` — Mann-Whitney U on the request durations (scipy; exact for small samples without
  ties, else the normal approximation), one-sided: new slower with p < ``alpha`` *and* an effect
  size, the probability that a new request is slower than a baseline one, above
  ``0.5 + effect_tolerance`` (Kayenta's judge: a significant but tiny shift does not fail).
* ``new_errors`` — error groups (``error.grouping_key``) seen on the new hosts at least
  ``min_count`` times and never on the baseline.

A check with fewer than ``min_requests`` requests on either side is inconclusive and says so.
The verdict is ``fail`` if any check fails, else ``inconclusive`` if any is, else ``pass``;
:attr:`Verdict.passed` applies ``on_inconclusive``.

Usage::

    settings = parse_analysis({"bake_seconds": 30, "checks": {"latency": {"enabled": False}}})
    verdict = judge(new, baseline, settings)
    verdict.result, verdict.passed, verdict.record()
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field
from scipy.stats import mannwhitneyu, norm

from foundation.settings import NonEmptyStr, SettingsModel

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"

Probability = Annotated[float, Field(gt=0, lt=1)]
Share = Annotated[float, Field(ge=0, le=1)]
MinRequests = Annotated[int, Field(ge=1)]


class ErrorRateCheck(SettingsModel):
    enabled: bool = True
    method: Literal["z-test", "max-difference"] = "z-test"
    alpha: Probability = 0.05
    max_difference: Share = 0.02  # absolute: 0.02 = two more failed requests in a hundred
    min_requests: MinRequests = 20


class LatencyCheck(SettingsModel):
    enabled: bool = True
    alpha: Probability = 0.05
    effect_tolerance: Annotated[float, Field(ge=0, lt=0.5)] = 0.1  # fail above P(new slower) = 0.6
    min_requests: MinRequests = 20


class NewErrorsCheck(SettingsModel):
    enabled: bool = True
    min_count: MinRequests = 1


class Checks(SettingsModel):
    error_rate: ErrorRateCheck = Field(default_factory=ErrorRateCheck)
    latency: LatencyCheck = Field(default_factory=LatencyCheck)
    new_errors: NewErrorsCheck = Field(default_factory=NewErrorsCheck)


class AnalysisSettings(SettingsModel):
    """The ``analysis`` object of a deploy configuration."""

    bake_seconds: Annotated[float, Field(ge=0, le=3600)] = 60.0  # 0: no analysis
    settle_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0  # for telemetry to reach Elasticsearch
    on_inconclusive: Literal["fail", "pass"] = "fail"
    service: NonEmptyStr | None = None  # its service.name in the telemetry (default: the deployed service's)
    index_prefix: NonEmptyStr = "oam"
    max_durations: Annotated[int, Field(ge=20, le=10000)] = 2000  # durations read per side for Mann-Whitney
    checks: Checks = Field(default_factory=Checks)

    @property
    def enabled(self) -> bool:
        return self.bake_seconds > 0


@dataclass(frozen=True)
class Sample:
    """What a group of hosts did in a window: requests, failed ones, some durations, error groups."""

    requests: int
    errors: int
    durations_ms: Sequence[float] = ()
    error_groups: Mapping[str, int] = field(default_factory=dict)  # grouping key -> occurrences
    hosts: Sequence[str] = ()

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class CheckResult:
    """One check's decision and the figures it was taken on."""

    check: str
    result: str
    new: float | None
    baseline: float | None
    threshold: str
    new_count: int
    baseline_count: int
    p_value: float | None = None
    difference: float | None = None
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        figures = [f"new {_show(self.new)}", f"baseline {_show(self.baseline)}"]
        if self.difference is not None:
            figures.append(f"difference {_show(self.difference)}")
        if self.p_value is not None:
            figures.append(f"p={self.p_value:.3g}")
        figures += [f"threshold {self.threshold}", f"n={self.new_count}/{self.baseline_count}"]
        return f"{self.check} {self.result.upper()}: " + ", ".join(figures) + (f" — {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Verdict:
    result: str
    checks: tuple[CheckResult, ...]
    on_inconclusive: str = "fail"
    reason: str = ""
    baseline_kind: str = "hosts not yet switched"

    @property
    def passed(self) -> bool:
        return self.result == PASS or (self.result == INCONCLUSIVE and self.on_inconclusive == "pass")

    def summary(self) -> str:
        decided = "" if self.result != INCONCLUSIVE else f" (on_inconclusive: {self.on_inconclusive})"
        why = f": {self.reason}" if self.reason else ""
        return f"verdict {self.result.upper()}{decided} against {self.baseline_kind}{why}"

    def record(self) -> dict[str, Any]:
        return {"result": self.result, "passed": self.passed, "on_inconclusive": self.on_inconclusive,
                "reason": self.reason, "baseline": self.baseline_kind,
                "checks": [{**asdict(c), "details": dict(c.details)} for c in self.checks]}


def _show(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def inconclusive(reason: str, on_inconclusive: str, baseline_kind: str = "hosts not yet switched") -> Verdict:
    """A verdict without figures, e.g. when Elasticsearch cannot be read."""
    return Verdict(INCONCLUSIVE, (), on_inconclusive, reason, baseline_kind)


def _too_few(check: str, new: Sample, baseline: Sample, minimum: int, threshold: str,
             new_value: float | None, base_value: float | None, counts: tuple[int, int]) -> CheckResult | None:
    if min(counts) >= minimum:
        return None
    sides = [name for name, n in zip(("new", "baseline"), counts, strict=True) if n < minimum]
    return CheckResult(check, INCONCLUSIVE, new_value, base_value, threshold, counts[0], counts[1],
                       reason=f"too few requests on {' and '.join(sides)} (at least {minimum} needed)")


def error_rate(new: Sample, baseline: Sample, check: ErrorRateCheck) -> CheckResult:
    """Does the new release fail more of its requests than the baseline?"""
    n1, n2 = new.requests, baseline.requests
    threshold = (f"difference > {check.max_difference:g}" if check.method == "max-difference"
                 else f"p < {check.alpha:g} and difference > {check.max_difference:g}")
    few = _too_few("error_rate", new, baseline, check.min_requests, threshold, new.error_rate, baseline.error_rate,
                   (n1, n2))
    if few:
        return few
    p1, p2 = new.errors / n1, baseline.errors / n2
    difference = p1 - p2
    p_value = None
    if check.method == "z-test":
        pooled = (new.errors + baseline.errors) / (n1 + n2)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p_value = 1.0 if spread == 0 else float(norm.sf(difference / spread))
    worse = difference > check.max_difference and (p_value is None or p_value < check.alpha)
    return CheckResult("error_rate", FAIL if worse else PASS, p1, p2, threshold, n1, n2, p_value=p_value,
                       difference=difference, details={"new_errors": new.errors, "baseline_errors": baseline.errors})


def latency(new: Sample, baseline: Sample, check: LatencyCheck) -> CheckResult:
    """Are the new release's requests slower than the baseline's (Mann-Whitney U, one-sided)?"""
    a, b = list(new.durations_ms), list(baseline.durations_ms)
    threshold = f"p < {check.alpha:g} and P(new slower) > {0.5 + check.effect_tolerance:g}"
    medians = (_median(a), _median(b))
    few = _too_few("latency", new, baseline, check.min_requests, threshold, *medians, (len(a), len(b)))
    if few:
        return few
    test = mannwhitneyu(a, b, alternative="greater")
    effect = float(test.statistic) / (len(a) * len(b))  # P(new > baseline) + P(tie) / 2
    slower = test.pvalue < check.alpha and effect > 0.5 + check.effect_tolerance
    return CheckResult("latency", FAIL if slower else PASS, medians[0], medians[1], threshold, len(a), len(b),
                       p_value=float(test.pvalue), difference=effect - 0.5,
                       details={"unit": "ms (median)", "effect_size": effect, "u": float(test.statistic)})


def new_errors(new: Sample, baseline: Sample, check: NewErrorsCheck) -> CheckResult:
    """Error groups the new hosts raise that the baseline never did."""
    fresh = {key: count for key, count in new.error_groups.items()
             if count >= check.min_count and not baseline.error_groups.get(key)}
    threshold = f"any group seen >= {check.min_count} time(s) on new only"
    return CheckResult("new_errors", FAIL if fresh else PASS, float(len(fresh)), 0.0, threshold,
                       sum(new.error_groups.values()), sum(baseline.error_groups.values()),
                       reason=("new: " + ", ".join(sorted(fresh)[:5])) if fresh else "",
                       details={"groups": dict(sorted(fresh.items())[:20])})


def judge(new: Sample, baseline: Sample, settings: AnalysisSettings,
          baseline_kind: str = "hosts not yet switched") -> Verdict:
    """Every enabled check, and the verdict they make together."""
    checks = settings.checks
    results = []
    if checks.error_rate.enabled:
        results.append(error_rate(new, baseline, checks.error_rate))
    if checks.latency.enabled:
        results.append(latency(new, baseline, checks.latency))
    if checks.new_errors.enabled:
        results.append(new_errors(new, baseline, checks.new_errors))
    if new.requests == 0:  # no traffic: error groups alone prove nothing
        return Verdict(INCONCLUSIVE, tuple(results), settings.on_inconclusive,
                       "no requests reached the new release during the bake", baseline_kind)
    outcome = (FAIL if any(r.result == FAIL for r in results)
               else INCONCLUSIVE if any(r.result == INCONCLUSIVE for r in results) else PASS)
    reason = "; ".join(f"{r.check}: {r.reason}" for r in results if r.result == outcome and r.reason)
    if outcome == FAIL and not reason:
        reason = ", ".join(r.check for r in results if r.result == FAIL) + " worse on the new release"
    return Verdict(outcome, tuple(results), settings.on_inconclusive, reason, baseline_kind)


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None
