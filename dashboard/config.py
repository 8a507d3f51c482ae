"""What the dashboard connects to, and how it behaves."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from foundation.elasticsearch import ElasticsearchConnection
from foundation.settings import PathStr, PositiveFloat, PositiveInt, SettingsError, SettingsModel, Url

DEFAULT_CHART_JS = (Path("/usr/share/javascript/chart.js/chart.min.js"),
                    Path("/usr/share/nodejs/chart.js/dist/chart.umd.js"))


class DashboardConfig(SettingsModel):
    """Connections (Elasticsearch, the CMDB), the session policy, where the chart library and the
    collector's token file are."""

    elasticsearch: ElasticsearchConnection = Field(default_factory=ElasticsearchConnection)  # or "url1,url2"
    index_prefix: str = "oam"
    zookeeper: str = "127.0.0.1:2181"
    cmdb_user: str | None = None
    cmdb_password: str | None = Field(default=None, repr=False)
    cmdb_root: str = "/oam/cmdb"
    environment: str = "production"
    secret_key: str = Field(default_factory=lambda: secrets.token_hex(32), repr=False)
    session_minutes: PositiveInt = 30
    secure_cookies: bool = False
    chart_js: PathStr | None = None
    deploy_identity: PathStr | None = None
    tokens_file: PathStr | None = None
    collectors: list[Url] = Field(default_factory=list)  # base URLs, e.g. http://10.0.0.5:4318
    alertmanagers: list[Url] = Field(default_factory=list)  # the Alerts page's silences, e.g. http://127.0.0.1:9093
    deploy_known_hosts: PathStr | None = None
    deploy_events_file: PathStr | None = None
    suite_state_file: PathStr | None = None  # `oam up`'s stack.json: the overview lists its pieces and restarts
    search_size: PositiveInt = 200
    request_timeout: PositiveFloat = 10.0
    metrics_token_file: PathStr | None = None  # set: /metrics asks for this bearer token; unset: open

    @field_validator("elasticsearch", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        """A string is the nodes' URLs, comma-separated, without credentials."""
        if isinstance(value, str):
            return {"hosts": [url.strip() for url in value.split(",") if url.strip()]}
        return value

    def metrics_token(self) -> str | None:
        """The bearer token ``/metrics`` asks for (the file's first line), or None: no token."""
        if self.metrics_token_file is None:
            return None
        try:
            token = self.metrics_token_file.read_text().strip()
        except OSError as exc:
            raise SettingsError(f"cannot read metrics_token_file {self.metrics_token_file}: {exc.strerror}") from None
        if len(token) < 16:
            raise SettingsError(f"the metrics token in {self.metrics_token_file} is too short (at least 16 characters)")
        return token

    def chart_js_path(self) -> Path | None:
        """The installed Chart.js build to serve, or None if none is installed."""
        for candidate in ((self.chart_js,) if self.chart_js else DEFAULT_CHART_JS):
            if candidate and candidate.is_file():
                return candidate
        return None
