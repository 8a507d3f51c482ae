"""What a test needs from the machine, checked one way: skipped on a developer's machine, failed in CI.

``require(condition, what)`` does nothing when ``condition`` holds. Otherwise it skips the test
(or, at module level, the module), unless ``CI`` is set to ``true`` (as CI runs the suite): then
the run fails, naming ``what`` is missing, so a CI run can never pass by skipping a real part.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    """True when the suite runs under CI (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(condition: object, what: str) -> None:
    """Skip (or under ``CI=true`` fail) unless ``condition``; ``what`` names the missing part and its remedy."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing part fails the run instead of skipping)", pytrace=False)
    pytest.skip(what, allow_module_level=True)


def require_module(name: str, what: str) -> ModuleType:
    """The module ``name``, imported; when it cannot be imported, :func:`require` fails on ``what``."""
    try:
        return importlib.import_module(name)
    except ImportError:
        require(False, what)
        raise  # not reached: require skipped or failed
