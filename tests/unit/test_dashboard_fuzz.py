"""Property-based fuzzing of every query parameter of the dashboard's pages and JSON API: whatever
the value, the answer is never a 5xx. The backends are stand-ins that answer "nothing found", so
what is tested is the dashboard's own parsing and rendering (the real ones are in
tests/integration/test_dashboard_hostile.py). 15 routes x 80 query strings + 300 raw query strings
+ 11 routes x 40 path segments + 300 ``next`` targets = 2,240 cases per run, and 400 JSON bodies."""
from __future__ import annotations

import json
import time
import unicodedata
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmdb import KeyNotFound
from cmdb.paths import validate_prefix
from dashboard import DashboardConfig, create_app
from dashboard.auth import _safe_next
from dashboard.safe_json import JsonRejected, loads
from dashboard.sessions import CheckedSessions
from dashboard.users import User

EMPTY_SEARCH = {"hits": {"hits": [], "total": {"value": 0, "relation": "eq"}}, "aggregations": {}}


class FakeEs:
    """Answers every search with no hits, as an empty Elasticsearch would."""

    def search(self, **_: Any) -> dict[str, Any]:
        return EMPTY_SEARCH


class FakeStore:
    def entries(self, prefix: str = "") -> list:
        validate_prefix(prefix)
        return []

    def get(self, key: str) -> Any:
        raise KeyNotFound(f"no such key: {key}")

    def history(self, key: str) -> list:
        return []


class FakeInventory:
    def hosts(self) -> list:
        return []


class FakeCmdb:
    store, inventory = FakeStore(), FakeInventory()


class FakeConnections:
    es, cmdb = FakeEs(), FakeCmdb()

    def health(self) -> dict[str, Any]:
        return {"elasticsearch": {"ok": True, "detail": "green"}, "zookeeper": {"ok": True, "detail": "CONNECTED"}}

    def close(self) -> None:
        pass


def _app() -> Any:
    app = create_app(DashboardConfig(elasticsearch="http://127.0.0.1:9", zookeeper="127.0.0.1:9"))
    app.extensions["oam.connections"] = FakeConnections()
    app.extensions["oam.sessions"] = CheckedSessions(lambda name, sid: User(name, "admin"))
    return app


APP = _app()
ROUTES = ["/", "/api/overview", "/logs", "/api/logs", "/errors", "/api/errors", "/services", "/api/services",
          "/services/backend", "/api/services/backend/metrics", "/api/changes", "/traces", "/cmdb",
          "/api/cmdb/keys", "/login"]
PARAMETERS = ["from", "to", "q", "level", "service", "host", "refresh", "gtx", "prefix", "next", "expired", "size"]
NASTY = ["now-999999999d", "now-99999999999999999999d", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
         "now-", "now-1y", "-1", "1e309", "nan", "%", "\x00", "\r\n", "/\t/example.org", "\ufffd", "x" * 5000,
         "{{7*7}}", "<script>", "../../etc/passwd", "\u202e", "0" * 32, "f" * 33]
VALUES = st.one_of(st.sampled_from(NASTY), st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
QUERIES = st.dictionaries(st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=10)), VALUES, max_size=6)
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _client() -> Any:
    client = APP.test_client()
    with client.session_transaction() as session:
        now = time.time()
        session.update(user="admin", sid="0" * 32, since=now, seen=now)
    return client


CLIENT = _client()


@pytest.mark.parametrize("route", ROUTES)
@FUZZ
@given(query=QUERIES)
def test_no_query_parameter_value_makes_a_5xx(route, query):
    answer = CLIENT.get(route, query_string=query)
    assert answer.status_code < 500, (route, query, answer.get_data(as_text=True)[:300])
    if answer.status_code == 400:
        assert answer.get_data(as_text=True).strip()


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=400), route=st.sampled_from(ROUTES))
def test_raw_undecodable_query_strings_are_never_a_5xx(raw, route):
    answer = CLIENT.get(route, environ_overrides={"QUERY_STRING": raw.decode("latin-1")})
    assert answer.status_code < 500, (route, raw)


PATH_ROUTES = ["/hosts/{}", "/api/hosts/{}/metrics", "/services/{}", "/api/services/{}/metrics", "/traces/{}",
               "/api/traces/{}", "/api/cmdb/keys/{}", "/api/cmdb/keys/{}/history", "/cmdb/key/{}",
               "/api/deployments/{}", "/api/jobs/{}"]


@pytest.mark.parametrize("route", PATH_ROUTES)
@settings(max_examples=40, deadline=None)
@given(segment=st.one_of(st.sampled_from(NASTY), st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)),
       raw=st.booleans())
def test_no_path_segment_makes_a_5xx(route, segment, raw):
    path = route.format(quote(segment, safe="/") if not raw else segment.encode().decode("latin-1"))
    answer = CLIENT.get("/", environ_overrides={"PATH_INFO": path})
    assert answer.status_code < 500, (route, segment, answer.get_data(as_text=True)[:300])


JSON_TEXT = st.one_of(
    st.text(max_size=300), st.binary(max_size=300),
    st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=30).map(json.dumps))


@settings(max_examples=400, deadline=None)
@given(text=JSON_TEXT)
def test_any_json_body_is_taken_or_refused_by_name_never_an_exception(text):
    try:
        loads(text)
    except JsonRejected as exc:
        assert str(exc)


def _browser_view(target: str) -> str:
    """What a browser makes of a Location: tabs and newlines dropped, backslashes read as slashes."""
    return "".join(ch for ch in target if ch not in "\t\n\r").replace("\\", "/")


@settings(max_examples=300, deadline=None)
@given(target=st.one_of(st.text(max_size=60), st.sampled_from(["/\t/h", "/\\h", "//h", "/\r\n/h", "/%09/h"])
                        .map(lambda t: t + "ost:1/x")))
def test_next_is_always_a_path_on_this_site(target):
    with APP.test_request_context("/login"):
        result = _safe_next(target)
    seen = _browser_view(result)
    assert result == "/" or result == target
    assert seen.startswith("/") and not seen.startswith("//") and not urlsplit(seen).netloc
    assert not any(unicodedata.category(ch).startswith("C") or ch.isspace() for ch in result)
