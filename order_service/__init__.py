"""The sample service the suite watches: an order API on sharded SQLite behind a Redis cache.

``gateway`` (public API) -> ``backend`` (shards + cache) -> Redis queue -> ``worker``. It uses
the patterns the suite is built to observe — sharding (with its data skew), cache-aside, and
asynchronous jobs — and it is instrumented with the app agent (GTX/LTX, spans, ECS logs,
``/metrics``, Sentry).
"""
