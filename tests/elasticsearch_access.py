"""The tests' secured Elasticsearch: a node as ``oam up`` runs it, and each piece's own connection to it."""
from __future__ import annotations

import secrets
from pathlib import Path

from backing_services.elasticsearch import ElasticsearchServer
from backing_services.ports import free_port
from foundation.elasticsearch import ElasticsearchConnection
from foundation.suite import ELASTICSEARCH_USERS
from telemetry.access import ALERTS, COLLECTOR, READER, RETENTION, roles

TEST_INDEX_PATTERNS = ["oam*", "dash*"]
"""The index prefixes of the tests (oam, oamingest, dash<tag>...): the pieces' roles cover them all."""
PIECE_ROLES = {"collector": COLLECTOR, "dashboard": READER, "retention": RETENTION, "alerts": ALERTS}
PASSWORDS = {piece: secrets.token_urlsafe(16) for piece in PIECE_ROLES}


def secured_elasticsearch(base_dir: Path, **options: object) -> ElasticsearchServer:
    """A node secured as ``oam up`` runs it (TLS with its own CA, basic auth, destructive_requires_name),
    with the superuser and each piece's least-privilege user and role; ``.connection()`` is the superuser."""
    return ElasticsearchServer(base_dir, http_port=free_port(), password=secrets.token_urlsafe(16),
                               users={ELASTICSEARCH_USERS[piece]: (PASSWORDS[piece], role)
                                      for piece, role in PIECE_ROLES.items()},
                               roles=roles(TEST_INDEX_PATTERNS), **options)


def piece_connections(server: ElasticsearchServer) -> dict[str, ElasticsearchConnection]:
    """The connection of each piece (``collector``, ``dashboard``, ``retention``) to ``server``, as its own user."""
    return {piece: server.connection(ELASTICSEARCH_USERS[piece], PASSWORDS[piece]) for piece in PIECE_ROLES}
