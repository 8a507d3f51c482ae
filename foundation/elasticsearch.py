"""One way to reach Elasticsearch: the connection settings every piece reads, and the client they make.

Usage::

    connection = ElasticsearchConnection(hosts=["https://127.0.0.1:9200"], username="oam-collector",
                                         password_file="/var/lib/oam/run/elasticsearch-collector.password",
                                         ca_file="/var/lib/oam/elasticsearch-ca/ca.crt")
    client = connect(connection)           # verifies the server against ca_file, never skips it
    delete_indices(client, "oam-logs-*")   # by name: the suite's nodes refuse wildcard deletes

The collector (``[elasticsearch]`` of its settings), the dashboard, ``oam collector retention``,
the tests and the benchmarks all build their client here, so TLS and credentials work alike.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from elasticsearch import Elasticsearch
from pydantic import Field

from .health import Check
from .settings import PositiveFloat, SettingsError, SettingsModel, Url


class ElasticsearchConnection(SettingsModel):
    """Where Elasticsearch is and who we are there: basic auth (or an API key), and the CA that signed it.

    ``password_file`` is read at connect time (a rotated password is picked up on the next
    start); a TLS server is verified against ``ca_file``, or the system's CAs when it is empty.
    """

    password_env: ClassVar[str] = ""
    """An environment variable the password comes from when neither ``password`` nor ``password_file`` is set."""

    hosts: list[Url] = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    username: str = ""
    password: str = Field("", repr=False)
    password_file: str = ""
    api_key: str = Field("", repr=False)
    ca_file: str = ""
    request_timeout: PositiveFloat = 30.0

    def resolved_password(self) -> str:
        if self.password:
            return self.password
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise SettingsError(f"cannot read elasticsearch.password_file: {exc}") from exc
        return os.environ.get(self.password_env, "") if self.password_env else ""

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``elasticsearch.Elasticsearch`` (no retries: callers decide)."""
        options: dict[str, Any] = {"hosts": list(self.hosts), "request_timeout": self.request_timeout,
                                   "max_retries": 0, "retry_on_timeout": False}
        if self.api_key:
            options["api_key"] = self.api_key
        elif self.username:
            options["basic_auth"] = (self.username, self.resolved_password())
        if self.ca_file:
            if not Path(self.ca_file).is_file():
                raise SettingsError(f"elasticsearch.ca_file: {self.ca_file} does not exist")
            options["ca_certs"] = self.ca_file
        return options

    def describe(self) -> str:
        who = "API key" if self.api_key else (f"user {self.username!r}" if self.username else "no credentials")
        return f"{', '.join(self.hosts)} ({who})"


def connect(connection: ElasticsearchConnection, **options: Any) -> Elasticsearch:
    """A client for ``connection``; ``options`` override the defaults (e.g. ``max_retries=3``)."""
    return Elasticsearch(**{**connection.client_options(), **options})


def delete_indices(client: Any, pattern: str) -> list[str]:
    """Delete the indices ``pattern`` matches, each by its name; returns the names.

    The suite's Elasticsearch sets ``action.destructive_requires_name``, so ``DELETE /oam-*``
    is refused; resolving the names first (which needs ``view_index_metadata``) is the way.
    """
    names = sorted(client.indices.get(index=pattern, expand_wildcards="open,closed", allow_no_indices=True,
                                      ignore_unavailable=True).body)
    for name in names:
        client.indices.delete(index=name, ignore_unavailable=True)
    return names


def reachable(client: Any, timeout: float = 2.0) -> Check:
    """A readiness check: Elasticsearch answers the cluster health within ``timeout`` seconds and is
    green or yellow (red: some primary shard is missing, writes to it fail)."""
    answer = client.options(request_timeout=timeout, max_retries=0).cluster.health()
    status = answer["status"]
    return Check(status in ("green", "yellow"), f"cluster status {status}")
