"""JSON-schema registry: a schema registered for a key pattern validates every write to matching keys.

Patterns are shell-style globs over keys (``*/web/db``, ``prod/*/feature-flags``). Usage::

    cmdb.schemas.register("*/web/db", {"type": "object", "required": ["host"]})
    cmdb.store.set("prod/web/db", {"port": 5432})   # SchemaViolation: 'host' is a required property
"""
from __future__ import annotations

import fnmatch
import json
import threading
from typing import TYPE_CHECKING, Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import KazooState

from .errors import InvalidValue, KeyNotFound, SchemaViolation, raise_first_failure
from .paths import quote_pattern, unquote_pattern

if TYPE_CHECKING:
    from .connection import Connection


def check_schema(schema: Any) -> None:
    """Raise :class:`InvalidValue` if ``schema`` is not a valid JSON schema."""
    if not isinstance(schema, (dict, bool)):
        raise InvalidValue("a JSON schema must be an object")
    try:
        validators.validator_for(schema).check_schema(schema)
    except schema_errors.SchemaError as exc:
        raise InvalidValue(f"invalid JSON schema: {exc.message}") from exc


def compiled(schema: Any) -> Any:
    """A validator for ``schema``, of the JSON-schema draft it declares."""
    return validators.validator_for(schema)(schema)


def violation(key: str, pattern: str, schema: Any, value: Any, validator: Any = None) -> str | None:
    """The one-line reason ``value`` breaks ``schema`` (checked by ``validator`` if given, else
    one made for it), or None if it validates."""
    validator = validator or compiled(schema)
    error = schema_errors.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{key} violates the schema for {pattern!r}: {error.message}" + (f" (at /{where})" if where else "")


class SchemaRegistry:
    """Schemas stored in ZooKeeper under ``<root>/schemas``."""

    def __init__(self, cmdb: Connection) -> None:
        self._cmdb = cmdb
        # Valid until a child watch on the schemas node fires or the connection wobbles.
        self._cache: dict[str, Any] | None = None
        self._validators: dict[str, Any] = {}  # by pattern, for the cached schemas
        self._generation = 0
        self._cache_lock = threading.Lock()
        cmdb.client.add_listener(self._on_state)

    def register(self, pattern: str, schema: Any) -> None:
        check_schema(schema)
        cmdb = self._cmdb
        path = cmdb.layout.schema(pattern)
        cmdb.ensure_root(path)
        data = json.dumps(schema, sort_keys=True).encode()
        with cmdb.translated("write the schema", pattern):
            # Replace rather than update, so the child watch behind the cache of all() fires.
            transaction = cmdb.client.transaction()
            if cmdb.client.retry(cmdb.client.exists, path) is not None:
                transaction.delete(path)
            transaction.create(path, data, acl=cmdb.acl_for(path))
            raise_first_failure(transaction.commit())
        self._invalidate()

    def remove(self, pattern: str) -> None:
        cmdb = self._cmdb
        with cmdb.translated("remove the schema", pattern):
            try:
                cmdb.client.retry(cmdb.client.delete, cmdb.layout.schema(pattern))
            except NoNodeError as exc:
                raise KeyNotFound(f"no schema registered for {pattern!r}") from exc
        self._invalidate()

    def all(self) -> dict[str, Any]:
        """Every registered schema by pattern (cached until a schema changes)."""
        cache = self._cache
        if cache is not None:
            return dict(cache)
        cmdb = self._cmdb
        generation = self._generation
        try:
            nodes = cmdb.retry(cmdb.client.get_children, cmdb.layout.schemas, self._invalidate)
        except NoNodeError:
            cmdb.retry(cmdb.client.exists, cmdb.layout.schemas, self._invalidate)
            nodes = []
        out = {}
        for node in sorted(nodes):
            try:
                data, _ = cmdb.retry(cmdb.client.get, f"{cmdb.layout.schemas}/{node}")
            except NoNodeError:
                continue
            if data:
                out[unquote_pattern(node)] = json.loads(data)
        with self._cache_lock:
            if generation == self._generation:  # nothing changed while we read
                self._cache = out
        return dict(out)

    def _invalidate(self, *_: Any) -> None:
        with self._cache_lock:
            self._cache = None
            self._validators = {}
            self._generation += 1

    def _on_state(self, state: str) -> None:
        if state != KazooState.CONNECTED:  # watches may be lost with the session
            self._invalidate()

    def get(self, pattern: str) -> Any:
        cmdb = self._cmdb
        try:
            data, _ = cmdb.retry(cmdb.client.get, f"{cmdb.layout.schemas}/{quote_pattern(pattern)}")
        except NoNodeError as exc:
            raise KeyNotFound(f"no schema registered for {pattern!r}") from exc
        if not data:
            raise KeyNotFound(f"no schema registered for {pattern!r}")
        return json.loads(data)

    def matching(self, key: str) -> dict[str, Any]:
        return {pattern: schema for pattern, schema in self.all().items() if fnmatch.fnmatchcase(key, pattern)}

    def validate(self, key: str, value: Any, schemas: dict[str, Any] | None = None) -> None:
        """Raise :class:`SchemaViolation` if ``value`` breaks any schema whose pattern matches ``key``."""
        # taken before the schemas are read: a change meanwhile replaces this dict, never fills the new one
        validators_now = self._validators if schemas is None else {}
        candidates = self.matching(key) if schemas is None else {
            p: s for p, s in schemas.items() if fnmatch.fnmatchcase(key, p)}
        for pattern, schema in candidates.items():
            validator = validators_now.get(pattern)
            if validator is None:
                validator = validators_now[pattern] = compiled(schema)
            reason = violation(key, pattern, schema, value, validator)
            if reason:
                raise SchemaViolation(reason)
