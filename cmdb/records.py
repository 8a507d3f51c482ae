"""What the config store gives back: a key's value at one version, and one change record."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    """A key's value at one version."""

    key: str
    value: Any
    version: int
    modified_ms: int = 0


@dataclass(frozen=True)
class ChangeRecord:
    """Who changed a key when, from what to what, and why."""

    key: str
    version: int
    action: str  # create | update | delete | rollback | import
    user: str
    at: str
    comment: str
    change_id: str
    had_value: bool
    old: Any
    has_value: bool
    new: Any

    def to_json(self) -> dict[str, Any]:
        out = {"version": self.version, "action": self.action, "user": self.user, "at": self.at,
               "comment": self.comment, "change_id": self.change_id}
        if self.had_value:
            out["old"] = self.old
        if self.has_value:
            out["new"] = self.new
        return out

    @classmethod
    def from_json(cls, key: str, data: dict[str, Any]) -> ChangeRecord:
        return cls(key=key, version=data["version"], action=data["action"], user=data["user"], at=data["at"],
                   comment=data.get("comment", ""), change_id=data.get("change_id", ""),
                   had_value="old" in data, old=data.get("old"), has_value="new" in data, new=data.get("new"))
