"""The suite's package extras, and one line, not a traceback, when a command's are not installed.

The package's own dependencies are the host agent's (``oam-suite[agent]``, what ``oam agent
install`` puts on each server); every other piece needs ``oam-suite[suite]``::

    from foundation.extras import import_for, needs_suite

    dashboard = import_for("dashboard", "dashboard.cli")  # on an agent-only install: MissingExtra
    with needs_suite("agent install"):
        from .install import install_all
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType

import click

SUITE_EXTRA = "oam-suite[suite]"


class MissingExtra(click.ClickException):
    """``oam <command>`` cannot run here: a package of the suite's extra is not installed."""

    def __init__(self, command: str, module: str) -> None:
        super().__init__(f"oam {command} needs the suite's server dependencies: pip install '{SUITE_EXTRA}' "
                         f"({module} is not installed)")


@contextlib.contextmanager
def needs_suite(command: str) -> Iterator[None]:
    """Imports under this block that fail for a package not installed raise :class:`MissingExtra`.

    Only a package that is not installed at all counts as missing; any other ImportError (the
    suite's own code, a name a dependency lacks) goes on as the bug it is.
    """
    try:
        yield
    except ImportError as exc:
        top = (exc.name or "").partition(".")[0]
        if not top or _installed(top):
            raise
        raise MissingExtra(command, top) from None


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # what a finder says of a package it will not import
        return False


def import_for(command: str, module: str) -> ModuleType:
    """``module``, imported for ``oam <command>`` (see :func:`needs_suite`)."""
    with needs_suite(command):
        return importlib.import_module(module)
