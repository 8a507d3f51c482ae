"""The package layering: every module imports only its own package, a package of a lower layer, or
one of its own layer that does not import it back (directly or around a loop).

Every import counts: at module level, inside a function, under ``if TYPE_CHECKING``. The layers
are :data:`LAYERS`, as README's architecture section shows them; a new package needs a place there.
"""
from __future__ import annotations

import ast
import functools
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("foundation",),
    ("telemetry", "backing_services", "remote"),
    ("cmdb",),
    ("collector", "deployer", "agents", "alerts"),
    ("dashboard", "order_service"),
    ("oam",),
    ("bench",),
)
"""Bottom (layer 1) to top. ``bench/`` (the benchmark scripts, installed with the package for ``oam bench``) sits on top."""

SCRIPT_FOLDERS = ("bench",)


@dataclass(frozen=True)
class Import:
    """``module`` (a path relative to the tree) imports package ``target`` at ``line``."""

    module: str
    line: int
    target: str


def imports_in(module: str, source: str, packages: Iterable[str]) -> list[Import]:
    """The imports of our ``packages`` in one module's source: absolute ones, wherever they stand."""
    ours = set(packages)
    found = []
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:  # a relative import stays inside its own package
            continue
        found += [Import(module, node.lineno, top) for top in (name.split(".")[0] for name in names) if top in ours]
    return found


def package_of(module: str) -> str:
    return module.split("/")[0]


def tree_imports(root: Path, packages: Iterable[str]) -> list[Import]:
    """Every import of our packages made by the modules of those packages under ``root``."""
    packages = list(packages)
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = path.relative_to(root).as_posix()
            found += imports_in(module, path.read_text(), packages)
    return found


def _cycle(edges: Mapping[str, set[str]]) -> list[str] | None:
    """One loop in the package graph (``[a, b, a]``), or None."""
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return trail[trail.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(edges.get(node, ())):
            loop = visit(nxt, trail + [node])
            if loop:
                return loop
        done.add(node)
        return None

    for start in sorted(edges):
        loop = visit(start, [])
        if loop:
            return loop
    return None


def violations(imports: Sequence[Import], layers: Sequence[Sequence[str]]) -> list[str]:
    """One line per broken rule: an import of a higher layer, or a loop between packages."""
    layer = {package: number for number, names in enumerate(layers, start=1) for package in names}
    problems = []
    edges: dict[str, set[str]] = {}
    for item in imports:
        source = package_of(item.module)
        if item.target == source:
            continue
        if layer[item.target] > layer[source]:
            problems.append(f"{item.module}:{item.line} imports {item.target} (layer {layer[item.target]}) "
                            f"from layer {layer[source]}: an upward import")
        edges.setdefault(source, set()).add(item.target)
    loop = _cycle(edges)
    if loop:
        first = {(package_of(i.module), i.target): f"{i.module}:{i.line}" for i in reversed(imports)}
        steps = ", ".join(f"{a} -> {b} ({first[(a, b)]})" for a, b in zip(loop, loop[1:]))
        problems.append(f"packages import each other in a loop: {steps}")
    return problems


def _packages() -> list[str]:
    return [package for names in LAYERS for package in names]


@functools.cache
def _real_imports() -> tuple[Import, ...]:
    return tuple(tree_imports(ROOT, _packages()))


# -- the real tree ---------------------------------------------------------------------------

def test_every_package_of_the_project_has_a_layer():
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = {pattern.rstrip("*").rstrip(".") for pattern in include}
    assert installed | set(SCRIPT_FOLDERS) == set(_packages())
    assert all((ROOT / package).is_dir() for package in _packages())


def test_no_module_imports_upward_and_packages_import_no_loop():
    imports = _real_imports()
    assert len(imports) > 100, "the imports were not read"
    assert violations(imports, LAYERS) == []


def test_the_foundation_imports_nothing_of_ours():
    assert [i for i in _real_imports() if package_of(i.module) == "foundation"] == []


# -- the checker fails when the rule is broken -----------------------------------------------

def test_an_upward_import_added_to_the_real_tree_is_reported_even_inside_a_function():
    injected = imports_in("cmdb/injected.py", "def settings():\n    from oam.config import load\n    return load()\n",
                          _packages())
    problems = violations([*_real_imports(), *injected], LAYERS)
    assert problems[0] == "cmdb/injected.py:2 imports oam (layer 6) from layer 3: an upward import"
    assert "cmdb -> oam (cmdb/injected.py:2)" in problems[1]  # and oam imports the cmdb: a loop


def test_an_upward_import_under_type_checking_is_reported(tmp_path):
    (tmp_path / "low").mkdir()
    (tmp_path / "high").mkdir()
    (tmp_path / "low" / "__init__.py").write_text("")
    (tmp_path / "low" / "base.py").write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                                              "    from high.top import Thing\n")
    (tmp_path / "high" / "top.py").write_text("from low import base\nfrom . import top\n")
    problems = violations(tree_imports(tmp_path, ["low", "high"]), [("low",), ("high",)])
    assert problems == ["low/base.py:4 imports high (layer 2) from layer 1: an upward import",
                        "packages import each other in a loop: high -> low (high/top.py:1), low -> high (low/base.py:4)"]


def test_packages_of_one_layer_may_import_each_other_one_way_only(tmp_path):
    for name, text in {"left/a.py": "import right.b\n", "right/b.py": "x = 1\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert violations(tree_imports(tmp_path, ["left", "right"]), [("left", "right")]) == []
    (tmp_path / "right" / "c.py").write_text("from left.a import thing\n")
    assert violations(tree_imports(tmp_path, ["left", "right"]), [("left", "right")]) == [
        "packages import each other in a loop: left -> right (left/a.py:1), right -> left (right/c.py:1)"]
