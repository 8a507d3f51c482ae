"""The OpenAPI 3.1 document of the JSON API, served at ``/api/openapi.json``."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)

_RANGE = [{"name": "from", "in": "query", "schema": {"type": "string", "default": "now-1h"},
           "description": "now, now-15m, now-2h, now-7d or an ISO 8601 time"},
          {"name": "to", "in": "query", "schema": {"type": "string", "default": "now"}}]
_ERRORS = {"400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
           "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
           "429": {"description": "Too many failed logins for this user or address; wait Retry-After seconds",
                   "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                   "content": {"application/json": {}}}}

_TRACE_SEARCH = [
    *({"name": n, "in": "query", "schema": {"type": "string"}, "description": d} for n, d in (
        ("service", "a transaction of this service.name"), ("operation", "a transaction of this transaction.name"),
        ("caller", "a transaction called by this service (service.origin.name; the service map's edges)"),
        ("host", "a transaction on this host.name"), ("version", "a transaction of this service.version"),
        ("text", "all these words in one log line of the trace"),
        ("error_group", "an error of this error.grouping_key in the trace"),
        ("min_duration", "at least: 200, 200ms or 1.5s"), ("max_duration", "at most: 200, 200ms or 1.5s"))),
    {"name": "labels.{name}", "in": "query", "schema": {"type": "string"},
     "description": "a transaction or span with this label value (any label; repeat for more)"},
    {"name": "outcome", "in": "query", "schema": {"enum": ["success", "failure", "unknown"]}},
    {"name": "status", "in": "query", "schema": {"type": "integer", "minimum": 100, "maximum": 599},
     "description": "a transaction with this http.response.status_code"},
    {"name": "duration_of", "in": "query", "schema": {"enum": ["trace", "transaction"], "default": "trace"},
     "description": "whether min/max_duration bound the whole trace or one of its transactions"},
    {"name": "sort", "in": "query", "schema": {"enum": ["newest", "slowest"], "default": "newest"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}]


_SELECTION = [{"name": "min_ms", "in": "query", "schema": {"type": "string"}, "description": "at least: 200, 200ms or 1.5s"},
              {"name": "max_ms", "in": "query", "schema": {"type": "string"}, "description": "at most: 200, 200ms or 1.5s"},
              {"name": "failed", "in": "query", "schema": {"enum": ["0", "1"], "default": "0"},
               "description": "1: failed transactions (with min_ms/max_ms: failed ones in that range)"}]


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _op(summary: str, params: list[dict[str, Any]] | None = None, role: str = "viewer",
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": f"Role: {role} or above.", "parameters": params or [],
                          "responses": {"200": {"description": "OK", "content": {"application/json": {}}}, **_ERRORS}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def document() -> dict[str, Any]:
    query = [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("q", "level", "service", "host")]
    return {
        "openapi": "3.1.0",
        "info": {"title": "OAM dashboard API", "version": "1"},
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "session"}},
            "responses": {"Error": {"description": "A problem, named", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}}}}}},
        },
        "security": [{"basic": []}, {"session": []}],
        "paths": {
            "/api/overview": {"get": _op("Health, hosts, error rate, p95 latency, today's changes", _RANGE)},
            "/api/hosts": {"get": _op("Live and known hosts from the CMDB")},
            "/api/hosts/{name}/metrics": {"get": _op("CPU, memory, disk, network of a host", [_path("name"), *_RANGE])},
            "/api/services": {"get": _op("Services seen in the range", _RANGE)},
            "/api/services/{name}/metrics": {"get": _op("Rates, latency percentiles, cache, shards, queue",
                                                        [_path("name"), *_RANGE])},
            "/api/service-map": {"get": _op("Services and the calls between them: count, rate (calls/s), error "
                                            "rate and p95 (ms) per caller and callee", _RANGE)},
            "/api/services/{name}/latency-histogram": {"get": _op(
                "Transaction durations of the service in log-spaced buckets, failures apart", [_path("name"), *_RANGE])},
            "/api/services/{name}/comparison": {"get": _op(
                "Selected transactions (duration range and/or failed) against the rest of the range, per dimension"
                " value, most over-represented first", [_path("name"), *_SELECTION, *_RANGE])},
            "/api/changes": {"get": _op("Deploys and configuration changes (chart markers)", _RANGE)},
            "/api/changes/{change_id}": {"get": _op(
                "One change a marker opens: a deploy (from/to versions, hosts, result, who, its record) or a CMDB "
                "change (diff, who, comment), with the service's requests/s, error rate and p95 (ms) 15 minutes "
                "before and after, by service.version for a deploy; 404 for an unknown id", [_path("change_id")])},
            "/api/logs": {"get": _op("Search logs (newest first, bounded)", [*query, *_RANGE])},
            "/api/traces/search": {"get": _op("Search traces (newest or slowest first, bounded)",
                                              [*_TRACE_SEARCH, *_RANGE])},
            "/api/traces/{gtx}": {"get": _op("Every transaction, span, log and error of a GTX", [_path("gtx")])},
            "/api/errors": {"get": _op("Errors grouped by grouping key", _RANGE)},
            "/api/errors/{key}": {"get": _op("One error group: first/last seen, count over the range, affected "
                                             "services, hosts and versions, latest stack trace, recent occurrences, "
                                             "first release, regressed (back after the quiet period)",
                                             [_path("key"), {"name": "quiet", "in": "query", "schema": {
                                                 "type": "string", "default": "24h", "pattern": "^[0-9]{1,4}[hd]$"}},
                                              *_RANGE])},
            "/api/cmdb/keys": {"get": _op("Keys under a prefix", [{"name": "prefix", "in": "query",
                                                                 "schema": {"type": "string"}}])},
            "/api/cmdb/keys/{key}": {
                "get": _op("A key's value and version", [_path("key")]),
                "put": _op("Set a key (validated; expect_version guards against lost updates)", [_path("key")],
                           "admin", {"type": "object", "required": ["value"], "properties": {
                               "value": {}, "expect_version": {"type": "integer"}, "comment": {"type": "string"}}})},
            "/api/cmdb/keys/{key}/history": {"get": _op("A key's change records with diffs", [_path("key")])},
            "/api/cmdb/keys/{key}/rollback": {"post": _op("Make an earlier version current", [_path("key")], "admin",
                                                          {"type": "object", "required": ["version"], "properties": {
                                                              "version": {"type": "integer"},
                                                              "comment": {"type": "string"}}})},
            "/api/alerts": {"get": _op("Firing and pending alerts, the last 24 h of transitions, silences, rules")},
            "/api/alerts/silences": {"post": _op("Create a silence (201, its id)", [], "operator", {
                "type": "object", "required": ["matchers", "duration", "comment"], "properties": {
                    "matchers": {"type": "string"}, "duration": {"type": "string"}, "comment": {"type": "string"}}})},
            "/api/alerts/silences/{silence_id}/expire": {"post": _op("Expire a silence", [_path("silence_id")], "operator")},
            "/api/deployments/{service}": {"get": _op("Deployment records and current version per host",
                                                      [_path("service")])},
            "/api/deployments/{service}/deploy": {"post": _op("Start a deploy (202, a job)", [_path("service")],
                                                              "operator", {"type": "object", "required": [
                                                                  "version", "confirm"], "properties": {
                                                                  "version": {"type": "string"},
                                                                  "confirm": {"const": "yes"}}})},
            "/api/deployments/{service}/rollback": {"post": _op("Start a rollback (202, a job)", [_path("service")],
                                                                "operator", {"type": "object", "required": ["confirm"],
                                                                             "properties": {
                                                                                 "version": {"type": "string"},
                                                                                 "confirm": {"const": "yes"}}})},
            "/api/jobs/{id}": {"get": _op("A deploy or rollback job and its progress lines", [_path("id")])},
            "/api/tokens": {"get": _op("Collector ingest tokens (names, prefixes)", role="admin")},
            "/api/tokens/{name}": {
                "post": _op("Issue a token (201; the token is shown only in this answer)", [_path("name")], "admin"),
                "delete": _op("Revoke a token", [_path("name")], "admin")},
            "/api/users": {"get": _op("Dashboard accounts", role="admin")},
            "/api/users/{name}": {
                "put": _op("Add or change an account", [_path("name")], "admin", {
                    "type": "object", "required": ["password", "role"], "properties": {
                        "password": {"type": "string", "minLength": 8},
                        "role": {"enum": ["viewer", "operator", "admin"]}}}),
                "delete": _op("Remove an account", [_path("name")], "admin")},
        },
    }


@bp.get("/api/openapi.json")
def api() -> object:
    return jsonify(document())
