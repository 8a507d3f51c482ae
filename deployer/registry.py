"""Everything the deployer keeps in the CMDB, behind one small interface (the :mod:`cmdb` package).

What lives where (below the CMDB root, default ``/oam/cmdb``; all under the CMDB's ACLs)::

    config key <environment>/<service>/deploy       the deploy configuration (versioned, with history)
    lock deploy-<environment>-<service>             the per-service deploy lock (holder: who, host, since)
    <root>/deployments/<environment>/<service>/deploy-N   one deployment record (JSON), in order

Usage::

    with Registry.connect("127.0.0.1:2181", user="deployer", password=secret) as registry:
        config = registry.load_service_config("shop")
        with registry.lock("shop", owner="alice"):          # DeployLocked names the holder
            ...
            registry.record_deployment(record)
        registry.list_deployments("shop")                     # newest first
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kazoo.exceptions import NoNodeError

from cmdb import DEFAULT_ROOT, Cmdb, CmdbError, KeyNotFound, LockHolder

from .config import check_name

CONFIG_NAME = "deploy"


class RegistryError(RuntimeError):
    """The CMDB cannot be reached, refuses, or holds nothing for the request; the message says which."""


class DeployLocked(RegistryError):
    """Another deploy of the service holds the lock."""

    def __init__(self, service: str, holder: LockHolder | None) -> None:
        self.service = service
        self.holder = holder
        if holder is None:
            who = "a deploy that has just finished"
        else:
            where = f" on {holder.host} (pid {holder.pid})" if holder.host else ""
            who = f"a deploy by {holder.who or 'someone'}{where} has run since {holder.since or '?'}"
        super().__init__(f"{service} is locked: {who}")


@contextmanager
def _cmdb_errors() -> Iterator[None]:
    try:
        yield
    except CmdbError as exc:
        raise RegistryError(str(exc)) from exc


class Registry:
    """Deploy configurations, per-service locks and deployment records of one environment."""

    def __init__(self, cmdb: Cmdb, environment: str = "production") -> None:
        self.cmdb = cmdb
        self.environment = check_name("environment", environment)

    @classmethod
    def connect(cls, hosts: str, *, user: str | None = None, password: str | None = None,
                root: str = DEFAULT_ROOT, environment: str = "production", timeout: float = 10.0) -> Registry:
        with _cmdb_errors():
            return cls(Cmdb(hosts, user=user, password=password, root=root, timeout=timeout), environment)

    def close(self) -> None:
        self.cmdb.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # configuration
    def config_key(self, service: str) -> str:
        return f"{self.environment}/{check_name('service', service)}/{CONFIG_NAME}"

    def load_service_config(self, service: str) -> dict[str, Any]:
        """The stored configuration (JSON, not yet checked); RegistryError if there is none."""
        key = self.config_key(service)
        try:
            with _cmdb_errors():
                return self.cmdb.store.get(key).value
        except RegistryError as exc:
            if isinstance(exc.__cause__, KeyNotFound):
                raise RegistryError(f"no deploy configuration for {service!r} in the CMDB (key {key}); "
                                    f"store one with `oam deploy-config {service} FILE`") from None
            raise

    def save_service_config(self, service: str, config: dict[str, Any], comment: str = "") -> int:
        """Store the configuration as a new version of its CMDB key; returns the version."""
        with _cmdb_errors():
            return self.cmdb.store.set(self.config_key(service), config, comment=comment).version

    # locking
    @contextmanager
    def lock(self, service: str, owner: str) -> Iterator[None]:
        """Hold the service's deploy lock; :class:`DeployLocked` names the holder if it is taken."""
        named = self.cmdb.lock(f"deploy-{self.environment}-{check_name('service', service)}", who=owner)
        with _cmdb_errors():
            taken = named.acquire(blocking=False)
            holder = None if taken else named.holder()
        if not taken:
            raise DeployLocked(service, holder)
        try:
            yield
        finally:
            named.release()

    # history
    def _history(self, service: str) -> str:
        return f"{self.cmdb.layout.root}/deployments/{self.environment}/{check_name('service', service)}"

    def record_deployment(self, record: dict[str, Any]) -> str:
        """Store a deployment record; returns its id (ordered: later records sort after)."""
        base = self._history(record["service"])
        data = json.dumps(record, sort_keys=True).encode()
        with _cmdb_errors():
            self.cmdb.ensure_root(base)  # the CMDB's ACL policy for what this client creates
            with self.cmdb.translated("write", base):
                self.cmdb.client.retry(self.cmdb.make_path, base)
                path = self.cmdb.client.create(f"{base}/deploy-", data, acl=self.cmdb.acl_for(f"{base}/deploy-"),
                                               sequence=True)
        return path.rsplit("/", 1)[1]

    def list_deployments(self, service: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` records of the service, newest first, each with its ``id``."""
        base = self._history(service)
        with _cmdb_errors():
            try:
                names = sorted(self.cmdb.retry(self.cmdb.client.get_children, base), reverse=True)[:limit]
            except NoNodeError:
                return []
            records = []
            for name in names:
                try:
                    data, _ = self.cmdb.retry(self.cmdb.client.get, f"{base}/{name}")
                    records.append({**json.loads(data), "id": name})
                except (NoNodeError, ValueError):
                    continue
        return records
