"""Export the whole tree as YAML (backup) and import it back (restore, or bootstrap a new environment).

The document holds the configuration values, the schemas and the known hosts::

    format: oam-cmdb/1
    config:
      prod/web/db: {host: db1, pool: 20}
    schemas:
      '*/web/db': {type: object, required: [host]}
    hosts:
      web-1: {role: web, environment: prod, addresses: [10.0.0.5], labels: {}, services: [web]}

Import first validates every value against the schemas it will leave in place, so a bad file
changes nothing; ``plan`` alone is the dry run. Each imported value is a normal versioned
change (action ``import``), so it shows up in the history and can be rolled back.
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from .errors import CmdbError, InvalidValue
from .hosts import HostFacts
from .paths import validate_key
from .schema import check_schema, violation
from .store import pretty

if TYPE_CHECKING:
    from .client import Cmdb

FORMAT = "oam-cmdb/1"
_ABSENT = object()


@dataclass(frozen=True)
class PlannedChange:
    """One difference between the tree and a document: what import would do."""

    kind: str  # config | schema | host
    name: str
    old: Any
    new: Any

    @property
    def action(self) -> str:
        if self.old is _ABSENT:
            return "create"
        return "delete" if self.new is _ABSENT else "update"

    def diff(self) -> str:
        def lines(value: Any) -> list[str]:
            return [] if value is _ABSENT else (pretty(value) + "\n").splitlines(keepends=True)

        label = f"{self.kind}:{self.name}"
        return "".join(difflib.unified_diff(lines(self.old), lines(self.new), f"a/{label}", f"b/{label}"))


def export_tree(cmdb: Cmdb) -> dict[str, Any]:
    """The tree as one document (plain dicts, ready for YAML or JSON)."""
    return {
        "format": FORMAT,
        "config": {entry.key: entry.value for entry in cmdb.store.entries()},
        "schemas": cmdb.schemas.all(),
        "hosts": {name: _host_body(facts) for name, facts in sorted(cmdb.inventory.known().items())},
    }


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, default_flow_style=False)


def load_yaml(text: str, source: str = "input") -> dict[str, Any]:
    """Parse and check an export document; :class:`InvalidValue` names the problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InvalidValue(f"invalid YAML in {source}{where}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(document, dict):
        raise InvalidValue(f"{source} is not a CMDB export (expected a mapping with format: {FORMAT})")
    if document.get("format") != FORMAT:
        raise InvalidValue(f"{source} has format {document.get('format')!r}; expected {FORMAT!r}")
    unknown = set(document) - {"format", "config", "schemas", "hosts"}
    if unknown:
        raise InvalidValue(f"{source} has unknown section(s): {', '.join(sorted(unknown))}")
    for section in ("config", "schemas", "hosts"):
        document.setdefault(section, {})
        if document[section] is None:
            document[section] = {}
        if not isinstance(document[section], dict):
            raise InvalidValue(f"{source}: section {section!r} must be a mapping")
    for key in document["config"]:
        try:
            validate_key(str(key))
        except CmdbError as exc:
            raise InvalidValue(f"{source}: {exc}") from exc
    for pattern, schema in document["schemas"].items():
        try:
            check_schema(schema)
        except InvalidValue as exc:
            raise InvalidValue(f"{source}: schema {pattern!r}: {exc}") from exc
    for name, body in document["hosts"].items():
        if not isinstance(body, dict):
            raise InvalidValue(f"{source}: host {name!r} must be a mapping of facts")
        try:
            HostFacts.from_json({**body, "name": str(name)})
        except (TypeError, ValueError, CmdbError) as exc:
            raise InvalidValue(f"{source}: host {name!r}: {exc}") from exc
    return document


def plan(cmdb: Cmdb, document: dict[str, Any], prune: bool = False) -> list[PlannedChange]:
    """What importing ``document`` would change (with ``prune``, also what it would delete)."""
    current = export_tree(cmdb)
    changes: list[PlannedChange] = []
    for kind, section in (("schema", "schemas"), ("config", "config"), ("host", "hosts")):
        have, want = current[section], document[section]
        for name in sorted(set(have) | set(want), key=str):
            old, new = have.get(name, _ABSENT), want.get(name, _ABSENT)
            if new is _ABSENT and not prune:
                continue
            if old != new:
                changes.append(PlannedChange(kind, str(name), old, new))
    _check_values(document, current, prune)
    return changes


def _check_values(document: dict[str, Any], current: dict[str, Any], prune: bool) -> None:
    schemas = dict(document["schemas"]) if prune else {**current["schemas"], **document["schemas"]}
    for key, value in document["config"].items():
        for pattern, schema in schemas.items():
            if fnmatch.fnmatchcase(str(key), pattern) and (reason := violation(str(key), pattern, schema, value)):
                raise InvalidValue(f"nothing imported: {reason}")


def apply(cmdb: Cmdb, changes: list[PlannedChange], comment: str = "import") -> int:
    """Carry out a plan; returns the number of changes made."""
    for change in changes:
        if change.kind == "schema":
            if change.new is _ABSENT:
                cmdb.schemas.remove(change.name)
            else:
                cmdb.schemas.register(change.name, change.new)
    for change in changes:
        if change.kind == "config":
            if change.new is _ABSENT:
                cmdb.store.delete(change.name, comment=comment)
            else:
                cmdb.store.import_value(change.name, change.new, comment=comment)
        elif change.kind == "host":
            if change.new is _ABSENT:
                cmdb.inventory.forget(change.name)
            else:
                cmdb.inventory.remember(HostFacts.from_json({**change.new, "name": change.name}))
    return len(changes)


def import_tree(cmdb: Cmdb, document: dict[str, Any], *, prune: bool = False, dry_run: bool = False,
                comment: str = "import") -> list[PlannedChange]:
    """Make the tree match ``document``; with ``dry_run`` only return the plan."""
    changes = plan(cmdb, document, prune)
    if not dry_run:
        apply(cmdb, changes, comment)
    return changes


def _host_body(facts: HostFacts) -> dict[str, Any]:
    body = facts.to_json()
    body.pop("name")
    return body
