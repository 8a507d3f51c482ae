"""How the suite's own daemons log: one ECS JSON line per record on stderr, or plain text.

Usage::

    configure_daemon_logging("oam-collector", level="info")        # OAM_LOG_FORMAT picks the format
    app.wsgi_app = AccessLog(app.wsgi_app)                         # one line per HTTP request

ECS lines come from Elastic's reference formatter (``ecs-logging``'s ``StdlibFormatter``:
``@timestamp``, ``log.level``, ``log.logger``, ``log.origin.*``, ``process.*``, ``ecs.version``)
with ``service.name`` and ``event.dataset`` (``<service>.log``, ``<service>.access``) added, so a
host agent tailing the file ships the suite's own logs like any other service's. ``plain`` keeps
the human layout for a terminal.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import ecs_logging

LOG_FORMATS = ("ecs", "plain")
"""The formats a daemon's log can take; ``ecs`` is the default."""
LOG_FORMAT_VARIABLE = "OAM_LOG_FORMAT"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "oam.access"
NOISY_LOGGERS = ("elastic_transport", "urllib3", "kazoo")
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""Probe paths, logged at DEBUG so that a scraper polling every few seconds does not fill the log."""


class _ServiceFields(logging.Filter):
    """Stamps each record with the daemon's ``service.name`` and its ``event.dataset``."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        fields = vars(record)
        fields.setdefault("service.name", self.service)
        kind = "access" if record.name == ACCESS_LOGGER else "log"
        fields.setdefault("event.dataset", f"{self.service}.{kind}")
        return True


def log_format_from_environment(default: str = "ecs") -> str:
    """The format named by ``OAM_LOG_FORMAT``; a value it does not know is an error naming it."""
    chosen = os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() or default
    if chosen not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_VARIABLE}={chosen!r}: expected one of {', '.join(LOG_FORMATS)}")
    return chosen


def daemon_log_handler(service: str, log_format: str, stream: Any = None) -> logging.Handler:
    """A stderr handler writing ``log_format`` lines for ``service``."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if log_format == "ecs":
        handler.setFormatter(ecs_logging.StdlibFormatter())
        handler.addFilter(_ServiceFields(service))
    else:
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    return handler


def configure_daemon_logging(service: str, level: str = "info", log_format: str | None = None) -> None:
    """Replace the root logger's handlers with one for ``service`` at ``level``.

    ``log_format`` defaults to ``OAM_LOG_FORMAT``, then ``ecs``.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(daemon_log_handler(service, log_format or log_format_from_environment()))
    root.setLevel(level.upper())
    for chatty in NOISY_LOGGERS:  # an INFO line per Elasticsearch request or ZooKeeper reconnect drowns the rest
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class AccessLog:
    """WSGI middleware writing one ``oam.access`` record per request, with ECS HTTP fields.

    The record carries ``http.request.method``, ``url.path`` (never the query string, which may
    hold a token), ``http.response.status_code``, ``http.response.body.bytes``, ``event.duration``
    (ns, until the body was sent), ``client.ip`` and ``user_agent.original``.
    """

    def __init__(self, app: WsgiApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter_ns()
        status: list[int] = []

        def record_status(status_line: str, headers: list, exc_info: Any = None) -> Callable:
            status[:] = [int(status_line.split(" ", 1)[0])]
            return start_response(status_line, headers, exc_info)

        body = self.app(environ, record_status)
        return _LoggedBody(body, lambda sent: self._log(environ, status[0] if status else 500, sent,
                                                        time.perf_counter_ns() - started))

    def _log(self, environ: dict, status: int, sent: int, duration_ns: int) -> None:
        path = environ.get("PATH_INFO", "") or "/"
        level = logging.DEBUG if path in QUIET_PATHS and status < 400 else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        method = environ.get("REQUEST_METHOD", "")
        fields = {"http.request.method": method, "url.path": path, "http.response.status_code": status,
                  "http.response.body.bytes": sent, "event.duration": duration_ns,
                  "client.ip": environ.get("REMOTE_ADDR", "")}
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            fields["user_agent.original"] = agent
        self.logger.log(level, "%s %s %d %d bytes %.1f ms", method, path, status, sent, duration_ns / 1e6,
                        extra=fields)


class _LoggedBody:
    """A response body that counts its bytes and reports them once the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.body = body
        self.done = done
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done(self.sent)
