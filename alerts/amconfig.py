"""Alertmanager's configuration for the suite: every alert by email to an SMTP server (and a webhook).

Usage::

    text = alertmanager_config(smtp="127.0.0.1:2525", to="ops@example.com", group_wait="1s")
    AlertmanagerServer(base_dir, config=text, web_port=9093).start()

Alerts are grouped by rule (``alertname``), environment and the group's labels (``...``: every
label), so each alert of a grouped rule is its own notification; resolved ones are mailed too.
Beside Alertmanager's HTML body, a plain-text one gives each alert's summary, description, what
changed before it fired (:mod:`alerts.context`), the trace links and the runbook.
"""
from __future__ import annotations

from typing import Any

import yaml


def alertmanager_config(smtp: str, to: str = "ops@localhost", sender: str = "oam-alerts@localhost",
                        group_wait: str = "30s", group_interval: str = "5m", repeat_interval: str = "4h",
                        webhook: str = "") -> str:
    """The YAML text of an Alertmanager configuration (see the module's docstring)."""
    receiver: dict[str, Any] = {"name": "oam", "email_configs": [
        {"to": to, "send_resolved": True, "headers": {"Subject": _SUBJECT}, "text": _TEXT}]}
    if webhook:
        receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    config = {
        "global": {"smtp_smarthost": smtp, "smtp_from": sender, "smtp_require_tls": False},
        "route": {"receiver": "oam", "group_by": ["..."], "group_wait": group_wait,
                  "group_interval": group_interval, "repeat_interval": repeat_interval},
        "receivers": [receiver],
    }
    return yaml.safe_dump(config, sort_keys=False)


_SUBJECT = ('[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} '
            '({{ .CommonLabels.environment }}{{ if .CommonLabels.host }} {{ .CommonLabels.host }}{{ end }}): '
            '{{ .CommonAnnotations.summary }}')

_TEXT = """{{ range .Alerts }}{{ .Status | toUpper }}: {{ .Annotations.summary }}
{{ .Annotations.description }}
{{ if .Annotations.changes }}
What changed before it fired:
{{ .Annotations.changes }}
{{ end }}{{ if .Annotations.failed_traces }}
Failed traces: {{ .Annotations.failed_traces }}
Slowest traces: {{ .Annotations.slowest_traces }}
{{ end }}{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}
{{ end }}{{ if .GeneratorURL }}Alert: {{ .GeneratorURL }}
{{ end }}Labels:{{ range .Labels.SortedPairs }} {{ .Name }}={{ .Value }}{{ end }}
Since {{ .StartsAt }}

{{ end }}"""
