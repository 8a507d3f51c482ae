"""Outgoing HTTP that carries the GTX: a ``requests`` session that adds ``traceparent``."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from opentelemetry.trace import SpanKind, StatusCode

from telemetry.context import outgoing_headers, span


class TracedSession(requests.Session):
    """Every request is a client span (``span.type: external``) and sends ``traceparent``."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        target = urlsplit(url)
        with span(f"{method.upper()} {target.netloc}{target.path}", kind=SpanKind.CLIENT) as scope:
            current = scope.span
            current.set_attribute("span.type", "external")
            headers = dict(kwargs.pop("headers", None) or {})
            headers.update(outgoing_headers())
            try:
                response = super().request(method, url, *args, headers=headers, **kwargs)
            except requests.RequestException as exc:
                current.set_status(StatusCode.ERROR, type(exc).__name__)
                raise
            current.set_attribute("labels.status_code", response.status_code)
            if response.status_code >= 500:
                current.set_status(StatusCode.ERROR, f"HTTP {response.status_code}")
            return response
