"""The collector: authenticated ingest of agent batches, Sentry events and OTLP data into Elasticsearch.

Nothing is acknowledged before it is durable (indexed, or fsynced into the local spool), and every
document is written with a deterministic ``_id`` and op_type ``create``, so retries never double it.
Start one with ``oam collector run``; build the WSGI app with :func:`collector.app.create_app`.
"""
from .config import CollectorConfig, CollectorElasticsearch, load_config

__all__ = ["CollectorConfig", "CollectorElasticsearch", "load_config"]
