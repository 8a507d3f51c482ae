"""The versioned configuration store: get, set (compare-and-set), delete, history, diff, rollback.

Every change is one ZooKeeper multi-op transaction that sets the value with the znode version
the writer read and creates the history record ``history/<key>/<new version>`` beside it, so a
record exists for exactly each committed change and two writers never overwrite each other::

    store = cmdb.store
    entry = store.set("prod/web/db", {"host": "db1"}, comment="move to db1")   # entry.version == 1
    store.set("prod/web/db", {"host": "db2"}, expect_version=1)                  # -> version 2
    store.set("prod/web/db", {"host": "db3"}, expect_version=1)                  # VersionConflict
    print(store.diff("prod/web/db", 1, 2))
    store.rollback("prod/web/db", 1, comment="db2 is sick")                      # -> version 3

A key's version is its znode's data version: 0 before the first write, +1 for each change
(a delete leaves an empty znode behind, so versions never restart).
"""
from __future__ import annotations

import difflib
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    KazooException,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)

from foundation.clock import utc_now_iso

from .errors import CmdbError, InvalidValue, KeyNotFound, VersionConflict, raise_first_failure
from .events import configuration_event
from .paths import validate_key, validate_prefix
from .records import ChangeRecord, Entry

if TYPE_CHECKING:
    from .connection import Connection
    from .schema import SchemaRegistry

MAX_VALUE_BYTES = 900_000  # ZooKeeper refuses znodes over ~1 MB; leave room for the history record
_ABSENT = object()


def encode(value: Any) -> bytes:
    """A value as stored: compact JSON with sorted keys."""
    try:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"value is not JSON-serialisable: {exc}") from exc
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidValue(f"value is {len(data)} bytes; the limit is {MAX_VALUE_BYTES}")
    return data


def parse_json(text: str, what: str = "value") -> Any:
    """Parse JSON text from a user, or :class:`InvalidValue` naming the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"invalid JSON for {what}: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


class ConfigStore:
    """Versioned JSON values under ``environment/service/name`` keys."""

    def __init__(self, cmdb: Connection, schemas: SchemaRegistry) -> None:
        self._cmdb = cmdb
        self._schemas = schemas

    # -- reading -----------------------------------------------------------------------------
    def _read(self, key: str) -> tuple[bytes | None, int, int]:
        """(data or None when no value, znode version, mtime ms); version 0 if the node is absent."""
        cmdb = self._cmdb
        try:
            data, stat = cmdb.retry(cmdb.client.get, cmdb.layout.value(key))
        except NoNodeError:
            return None, 0, 0
        return (data or None), stat.version, stat.mtime

    def get(self, key: str, version: int | None = None) -> Entry:
        """The current value, or the value at ``version`` (from history); :class:`KeyNotFound` if none."""
        key = validate_key(key)
        if version is not None and version != self.version(key):
            record = self.record(key, version)
            if not record.has_value:
                raise KeyNotFound(f"{key} had no value at version {version} ({record.action})")
            return Entry(key, record.new, version)
        data, current, mtime = self._read(key)
        if data is None:
            raise KeyNotFound(f"no such key: {key}" + (f" (deleted at version {current})" if current else ""))
        return Entry(key, json.loads(data), current, mtime)

    def version(self, key: str) -> int:
        return self._read(validate_key(key))[1]

    def exists(self, key: str) -> bool:
        return self._read(validate_key(key))[0] is not None

    def keys(self, prefix: str = "") -> list[str]:
        """Every key with a value under ``prefix`` (``""``, ``prod``, ``prod/web``), sorted."""
        return [entry.key for entry in self.entries(prefix)]

    def entries(self, prefix: str = "") -> list[Entry]:
        """Every key with a value under ``prefix``, with its value and version, sorted by key."""
        cmdb = self._cmdb
        prefix = validate_prefix(prefix)
        start = cmdb.layout.under(prefix)
        out: list[Entry] = []
        stack = [start]
        while stack:
            path = stack.pop()
            try:
                data, stat = cmdb.retry(cmdb.client.get, path)
                children = cmdb.retry(cmdb.client.get_children, path)
            except NoNodeError:
                continue
            if data and path != cmdb.layout.config and path.count("/") - cmdb.layout.config.count("/") >= 3:
                out.append(Entry(cmdb.layout.key_of(path), json.loads(data), stat.version, stat.mtime))
            stack.extend(f"{path}/{child}" for child in children)
        return sorted(out, key=lambda e: e.key)

    def record(self, key: str, version: int) -> ChangeRecord:
        """The change record that made ``version``."""
        cmdb = self._cmdb
        key = validate_key(key)
        try:
            data, _ = cmdb.retry(cmdb.client.get, cmdb.layout.record(key, version))
        except NoNodeError:
            raise KeyNotFound(self._missing_version(key, version)) from None
        return ChangeRecord.from_json(key, json.loads(data))

    def _missing_version(self, key: str, version: int) -> str:
        kept = self.versions(key)
        if not kept:
            return f"{key} has no history" if self.version(key) == 0 else f"{key} has no history left"
        return f"{key} has no version {version} in its history (kept: {kept[0]}..{kept[-1]})"

    def versions(self, key: str) -> list[int]:
        """Versions with a history record, oldest first."""
        cmdb = self._cmdb
        try:
            nodes = cmdb.retry(cmdb.client.get_children, cmdb.layout.history(validate_key(key)))
        except NoNodeError:
            return []
        return sorted(int(node) for node in nodes if node.isdigit())

    def history(self, key: str, limit: int | None = None) -> list[ChangeRecord]:
        """Change records of ``key``, oldest first (the last ``limit`` if given)."""
        key = validate_key(key)
        versions = self.versions(key)
        if limit is not None:
            versions = versions[-limit:] if limit > 0 else []
        records = []
        for version in versions:
            try:
                records.append(self.record(key, version))
            except KeyNotFound:  # trimmed meanwhile
                continue
        return records

    def diff(self, key: str, old_version: int, new_version: int | None = None) -> str:
        """A unified diff of the pretty-printed values at two versions (the newer defaults to now)."""
        key = validate_key(key)
        new_version = self.version(key) if new_version is None else new_version
        sides = []
        for version in (old_version, new_version):
            text = self._text_at(key, version)
            sides.append((text.splitlines(keepends=True), f"{key}@{version}"))
        (a, a_name), (b, b_name) = sides
        return "".join(difflib.unified_diff(a, b, a_name, b_name))

    def _text_at(self, key: str, version: int) -> str:
        if version == 0:
            return ""
        current = self.version(key)
        if version > current or version < 0:
            raise KeyNotFound(f"{key} has no version {version} (current version is {current})")
        if version == current:
            data, _, _ = self._read(key)
            return "" if data is None else pretty(json.loads(data)) + "\n"
        record = self.record(key, version)
        return pretty(record.new) + "\n" if record.has_value else ""

    # -- writing -----------------------------------------------------------------------------
    def set(self, key: str, value: Any, *, expect_version: int | None = None, comment: str = "") -> ChangeRecord:
        """Write ``value``; with ``expect_version`` only if the key is still at that version."""
        return self._change(key, value, expect_version, comment, None)

    def import_value(self, key: str, value: Any, *, comment: str = "") -> ChangeRecord:
        """Write ``value`` as ``set`` does, recorded in the history as an import (``cmdb import``)."""
        return self._change(key, value, None, comment, "import")

    def delete(self, key: str, *, expect_version: int | None = None, comment: str = "") -> ChangeRecord:
        """Remove the value (the history stays, and the version goes on counting)."""
        return self._change(key, _ABSENT, expect_version, comment, "delete")

    def rollback(self, key: str, version: int, *, expect_version: int | None = None,
                 comment: str = "") -> ChangeRecord:
        """Make the value at ``version`` current again, as a new version."""
        key = validate_key(key)
        record = self.record(key, version)
        note = comment or f"rollback to version {version}"
        return self._change(key, record.new if record.has_value else _ABSENT, expect_version, note, "rollback")

    def _change(self, key: str, value: Any, expect_version: int | None, comment: str,
                action: str | None, schemas: dict[str, Any] | None = None) -> ChangeRecord:
        cmdb = self._cmdb
        key = validate_key(key)
        data = None if value is _ABSENT else encode(value)
        path = cmdb.layout.value(key)
        cmdb.ensure_root(path)
        if data is not None:
            self._schemas.validate(key, value, schemas)
        change_id = uuid.uuid4().hex
        # Not a wait (kept off foundation.waiting): kazoo's retry waits out a reconnect; each pass re-decides.
        deadline = time.monotonic() + cmdb.session_timeout * 2 + 5
        missing_parent = False
        while True:
            with cmdb.translated("write", path):
                old, current, _ = self._read(key)
                if expect_version is not None and expect_version != current:
                    raise VersionConflict(key, expect_version, current)
                if data is None and old is None:
                    raise KeyNotFound(f"no such key: {key}")
                if current == 0 or missing_parent:
                    cmdb.client.retry(cmdb.make_path, path)
                    cmdb.client.retry(cmdb.make_path, cmdb.layout.history(key))
                record = ChangeRecord(
                    key=key, version=current + 1,
                    action=action or ("create" if old is None else "update"),
                    user=cmdb.actor, at=utc_now_iso("milliseconds"), comment=comment, change_id=change_id,
                    had_value=old is not None, old=json.loads(old) if old is not None else None,
                    has_value=data is not None, new=json.loads(data) if data is not None else None)
                try:
                    self._commit(path, data or b"", current, record)
                except (BadVersionError, NodeExistsError):
                    raise VersionConflict(key, expect_version, self.version(key)) from None
                except NoNodeError:  # the value or history node was removed under us (a wipe)
                    if missing_parent:
                        raise CmdbError(f"could not write {key}: its nodes keep disappearing; retry") from None
                    missing_parent = True
                    continue
                except (ConnectionLoss, SessionExpiredError):
                    if time.monotonic() > deadline:
                        raise
                    if self._committed(record):
                        break
                    expect_version = current  # never overwrite a change made while we were away
                    continue
            break
        self._trim(key, record.version)
        if cmdb.spool is not None:
            cmdb.spool.emit(configuration_event(record))
        return record

    def _commit(self, path: str, data: bytes, current: int, record: ChangeRecord) -> None:
        """One multi-op: the value (compare-and-set), its change record and, past the history
        limit, the removal of the record that falls out of it — one ZooKeeper write, one fsync."""
        cmdb = self._cmdb
        record_path = cmdb.layout.record(record.key, record.version)
        record_data = json.dumps(record.to_json(), sort_keys=True).encode()
        stale = record.version - cmdb.history_limit
        for trim in ((True, False) if stale > 0 else (False,)):
            transaction = cmdb.client.transaction()
            transaction.set_data(path, data, version=current)
            transaction.create(record_path, record_data, acl=cmdb.acl_for(record_path))
            if trim:
                transaction.delete(cmdb.layout.record(record.key, stale))
            results = transaction.commit()
            if trim and isinstance(results[2], NoNodeError):  # already gone: commit without it
                continue
            raise_first_failure(results)
            return

    def _committed(self, record: ChangeRecord) -> bool:
        """After a lost connection: did our transaction commit before it was cut?"""
        cmdb = self._cmdb
        cmdb.retry(cmdb.client.sync, cmdb.layout.history(record.key))  # a lagging server must catch up first
        try:
            return self.record(record.key, record.version).change_id == record.change_id
        except KeyNotFound:
            return False

    def _trim(self, key: str, version: int) -> None:
        """Every tenth version, remove records older than the last ``history_limit`` that a
        write with another limit, or a lost trim, left behind (each write trims its own one).
        Not waited for: the listing and the deletes run while the caller goes on."""
        cmdb = self._cmdb
        limit = cmdb.history_limit
        if version <= limit or version % 10:
            return
        history = cmdb.layout.history(key)

        def sweep(listing: Any) -> None:
            try:
                nodes = listing.get()
            except KazooException:  # a missed sweep is redone at the next tenth version
                return
            for node in nodes:
                if node.isdigit() and int(node) < version - limit:
                    cmdb.client.delete_async(cmdb.layout.record(key, int(node)))

        cmdb.client.get_children_async(history).rawlink(sweep)
