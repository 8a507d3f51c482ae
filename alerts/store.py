"""Rules and evaluator state in the CMDB's ZooKeeper tree.

Rules are ordinary CMDB keys (``<environment>/alerts/<name>``: versioned, with history, diff and
rollback). The active evaluator's state is one znode per rule beside the tree's config::

    <root>/alert-state/<environment>/<rule>   {"groups": {group key: AlertState}, "error": ..., "evaluated_at": ...}

so an evaluator that takes over reads where the last one stopped (pending timers, firing set,
what was sent when) and neither re-notifies nor forgets. Usage::

    rules, broken = load_rules(cmdb, "prod")       # broken: {key: one-line reason}
    save_state(cmdb, "prod", RuleState(...))
    load_states(cmdb, "prod")                      # {rule name: RuleState}
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kazoo.exceptions import NodeExistsError, NoNodeError

from cmdb import Cmdb
from cmdb.paths import validate_segment

from .rules import RULE_PATTERN, RULE_SCHEMA, SERVICE, Rule, RuleError, parse_rule
from .state import AlertState


@dataclass
class RuleState:
    """What the evaluator keeps of one rule: each group's state, its last error and evaluation."""

    name: str
    groups: dict[str, AlertState] = field(default_factory=dict)
    error: str | None = None
    evaluated_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"groups": {key: state.to_json() for key, state in sorted(self.groups.items())},
                "error": self.error, "evaluated_at": self.evaluated_at}

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> RuleState:
        groups = {key: AlertState.from_json(value) for key, value in (data.get("groups") or {}).items()
                  if isinstance(value, dict)}
        return cls(name, groups, data.get("error"), data.get("evaluated_at"))


def install_schema(cmdb: Cmdb) -> bool:
    """Register the rule schema for ``*/alerts/*`` unless it is there already; True if it was written."""
    try:
        if cmdb.schemas.get(RULE_PATTERN) == RULE_SCHEMA:
            return False
    except KeyError:
        pass
    cmdb.schemas.register(RULE_PATTERN, RULE_SCHEMA)
    return True


def load_rules(cmdb: Cmdb, environment: str) -> tuple[list[Rule], dict[str, str]]:
    """The rules of ``environment``, and the keys that hold no valid rule with the reason."""
    rules, broken = [], {}
    for entry in cmdb.store.entries(f"{validate_segment(environment, 'environment')}/{SERVICE}"):
        try:
            rules.append(parse_rule(entry.key, entry.value))
        except RuleError as exc:
            broken[entry.key] = str(exc)
    return rules, broken


def state_root(cmdb: Cmdb, environment: str) -> str:
    return f"{cmdb.layout.root}/alert-state/{validate_segment(environment, 'environment')}"


def load_states(cmdb: Cmdb, environment: str) -> dict[str, RuleState]:
    """Every rule's persisted state in ``environment`` (none yet: an empty dict)."""
    root = state_root(cmdb, environment)
    try:
        names = cmdb.retry(cmdb.client.get_children, root)
    except NoNodeError:
        return {}
    out = {}
    for name in sorted(names):
        try:
            data, _ = cmdb.retry(cmdb.client.get, f"{root}/{name}")
        except NoNodeError:
            continue
        try:
            out[name] = RuleState.from_json(name, json.loads(data or b"{}"))
        except (ValueError, AttributeError):
            continue  # unreadable state starts afresh
    return out


def save_state(cmdb: Cmdb, environment: str, state: RuleState) -> None:
    """Write one rule's state (created on first use)."""
    path = f"{state_root(cmdb, environment)}/{validate_segment(state.name, 'rule name')}"
    data = json.dumps(state.to_json(), sort_keys=True).encode()
    cmdb.ensure_root(path)
    with cmdb.translated("write the alert state", path):
        try:
            cmdb.client.retry(cmdb.client.set, path, data)
        except NoNodeError:
            cmdb.client.retry(cmdb.make_path, path.rsplit("/", 1)[0])
            try:
                cmdb.client.retry(cmdb.client.create, path, data, acl=cmdb.acl_for(path))
            except NodeExistsError:
                cmdb.client.retry(cmdb.client.set, path, data)


def drop_state(cmdb: Cmdb, environment: str, name: str) -> None:
    """Forget a rule's state (its rule is gone and nothing is left to send)."""
    path = f"{state_root(cmdb, environment)}/{validate_segment(name, 'rule name')}"
    with cmdb.translated("remove the alert state", path):
        try:
            cmdb.client.retry(cmdb.client.delete, path)
        except NoNodeError:
            pass
