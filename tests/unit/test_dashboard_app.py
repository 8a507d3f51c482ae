"""The app without backing services: login required, security headers, CSRF, the OpenAPI document, the CLI."""
from __future__ import annotations

from click.testing import CliRunner

from dashboard import DashboardConfig, create_app
from oam.cli import cli


def app(**settings):
    return create_app(DashboardConfig(elasticsearch={"hosts": ["http://127.0.0.1:9"]}, zookeeper="127.0.0.1:9",
                                      **settings))


def test_pages_need_a_login_and_the_api_answers_401():
    client = app().test_client()
    answer = client.get("/logs?q=x")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=/logs")
    answer = client.get("/api/logs")
    assert answer.status_code == 401 and answer.json["error"] and "Basic" in answer.headers["WWW-Authenticate"]


def test_every_answer_has_security_headers():
    answer = app().test_client().get("/login")
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Cache-Control"] == "no-store"


def test_state_changes_without_a_csrf_token_are_refused():
    answer = app().test_client().post("/login", data={"username": "a", "password": "b"})
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)


def test_openapi_document_describes_the_api():
    document = app().test_client().get("/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert "put" in document["paths"]["/api/cmdb/keys/{key}"]
    assert "admin" in document["paths"]["/api/cmdb/keys/{key}"]["put"]["description"]


def test_the_chart_library_is_served_from_the_installed_file(tmp_path):
    chart = tmp_path / "chart.umd.js"
    chart.write_bytes(b"/*! Chart.js */ window.Chart = function () {};\n")
    answer = app(chart_js=chart).test_client().get("/vendor/chart.js")
    assert answer.status_code == 200 and answer.data == chart.read_bytes()
    assert answer.mimetype in ("text/javascript", "application/javascript")


def test_a_missing_chart_library_is_a_404_naming_the_package(tmp_path):
    answer = app(chart_js=tmp_path / "absent.js").test_client().get("/vendor/chart.js")
    assert answer.status_code == 404 and b"libjs-chart.js" in answer.data


def test_cli_lists_the_dashboard_commands():
    result = CliRunner().invoke(cli, ["dashboard", "--help"])
    assert result.exit_code == 0 and "run" in result.output and "add-user" in result.output
    result = CliRunner().invoke(cli, ["dashboard", "run", "--secret-key-file", "/nonexistent/key"])
    assert result.exit_code == 1 and "cannot read the secret key file" in result.output



def test_openapi_document_describes_the_error_group():
    document = app().test_client().get("/api/openapi.json").json
    assert [p["name"] for p in document["paths"]["/api/errors/{key}"]["get"]["parameters"]] == ["key", "quiet", "from", "to"]
    assert "/api/changes/{change_id}" in document["paths"]
