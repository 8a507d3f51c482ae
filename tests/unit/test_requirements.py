"""A missing real part skips a test on a developer's machine and fails it under CI=true."""
from __future__ import annotations

import pytest

from requirements import require, require_module


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_under_ci_a_missing_part_fails_the_run(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed.*CI=true"):
        require(False, "chromium is not installed")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_here"):
        require_module("no_such_module_here", "no_such_module_here is not installed")


@pytest.mark.parametrize("value", [None, "", "false"])
def test_elsewhere_it_skips(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        require(None, "chromium is not installed")


def test_a_present_part_passes_either_way(monkeypatch):
    monkeypatch.setenv("CI", "true")
    require(True, "unused")
    assert require_module("json", "unused").dumps([]) == "[]"
