"""What the dashboard connects to, and how it behaves."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CHART_JS = (Path("/usr/share/javascript/chart.js/chart.min.js"),
                    Path("/usr/share/nodejs/chart.js/dist/chart.umd.js"))


@dataclass
class DashboardConfig:
    """Connections (Elasticsearch, the CMDB), the session policy, where the chart library and the
    collector's token file are."""

    elasticsearch: str = "http://127.0.0.1:9200"
    elasticsearch_user: str | None = None
    elasticsearch_password: str | None = field(default=None, repr=False)
    index_prefix: str = "oam"
    zookeeper: str = "127.0.0.1:2181"
    cmdb_user: str | None = None
    cmdb_password: str | None = field(default=None, repr=False)
    cmdb_root: str = "/oam/cmdb"
    environment: str = "production"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    session_minutes: int = 30
    secure_cookies: bool = False
    chart_js: Path | None = None
    deploy_identity: Path | None = None
    tokens_file: Path | None = None
    collectors: list[str] = field(default_factory=list)  # base URLs, e.g. http://10.0.0.5:4318
    deploy_known_hosts: Path | None = None
    deploy_events_file: Path | None = None
    search_size: int = 200
    request_timeout: float = 10.0

    def chart_js_path(self) -> Path | None:
        """The installed Chart.js build to serve, or None if none is installed."""
        for candidate in ((self.chart_js,) if self.chart_js else DEFAULT_CHART_JS):
            if candidate and candidate.is_file():
                return candidate
        return None
