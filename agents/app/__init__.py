"""The in-process app agent: what a Flask/WSGI service adds with a couple of lines.

    from agents.app import AppAgent
    agent = AppAgent(ServiceInfo("backend", "1.0"), telemetry_dir="/var/log/backend")
    agent.instrument_flask(app)          # GTX/LTX per request, transactions, /metrics, GTX header
    agent.start()                        # ECS JSON log + span files, Sentry if a DSN is given

Everything it records goes to local files (ECS JSON lines) that the host agent ships; nothing
in the request path makes a network call.
"""
from .agent import AppAgent
from .http import TracedSession
from .jobs import enqueue, run_job
from .logs import EcsJsonFormatter, EcsLogHandler
from .metrics import AppMetrics
from .spans import EcsFileSpanExporter, EcsSpanProcessor, TransactionIdProcessor

__all__ = ["AppAgent", "AppMetrics", "EcsFileSpanExporter", "EcsJsonFormatter", "EcsLogHandler", "EcsSpanProcessor",
           "TracedSession", "TransactionIdProcessor", "enqueue", "run_job"]
