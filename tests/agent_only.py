"""Run ``oam`` as on a host that has only ``oam-suite[agent]``: ``python tests/agent_only.py ARGS``.

Every module of an installed distribution that the project's base dependencies (and theirs,
markers and extras evaluated, as pip resolves them) do not bring fails to import with
ModuleNotFoundError, as it would where it is not installed, although this virtualenv has the
whole suite (Flask, Elasticsearch, SciPy, Fabric, ...). The base
dependencies are read from the installed package's metadata (what pyproject.toml declared when
scripts/setup installed it), so the closure follows pyproject.toml.
"""
from __future__ import annotations

import importlib.abc
import importlib.metadata
import runpy
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def distributions(name: str = "oam-suite") -> set[str]:
    """``name`` and every distribution it needs without extras, transitively, by canonical name."""
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(name, frozenset[str]())]
    while queue:
        name, extras = queue.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                queue.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def modules_of(distribution: str) -> set[str]:
    """The dotted names of the modules and packages one installed distribution's files make."""
    names: set[str] = set()
    for file in importlib.metadata.distribution(distribution).files or []:
        parts = file.parts
        if parts[0] == ".." or not parts[-1].endswith((".py", ".so", ".pyd")):
            continue
        module = [*parts[:-1], parts[-1].split(".")[0]]
        if module[-1] == "__init__":
            module.pop()
        names.update(".".join(module[:depth]) for depth in range(1, len(module) + 1))
    return names


# What `python3 -m venv` puts in every virtualenv (the installer makes one on each host).
VENV_OWN = {"pip", "setuptools"}


class AgentOnly(importlib.abc.MetaPathFinder):
    """Refuses the modules of every installed distribution outside the agent's closure; the
    standard library, the suite's own packages and the closure's modules import as usual."""

    def __init__(self) -> None:
        keep = distributions() | VENV_OWN
        installed = {canonicalize_name(d.metadata["Name"]) for d in importlib.metadata.distributions()}
        allowed = set().union(*(modules_of(name) for name in keep - {"oam-suite"} if name in installed))
        self.refused = set().union(*(modules_of(name) for name in installed - keep)) - allowed

    def find_spec(self, name, path=None, target=None):
        if name in self.refused:
            raise ModuleNotFoundError(f"No module named {name!r} (not in oam-suite[agent])", name=name)
        return None  # the usual finders go on


if __name__ == "__main__":
    sys.meta_path.insert(0, AgentOnly())
    sys.argv = ["oam", *sys.argv[1:]]
    runpy.run_module("oam", run_name="__main__", alter_sys=True)
