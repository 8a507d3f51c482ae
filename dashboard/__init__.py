"""The dashboard: one web UI (and its JSON API) over metrics, logs, traces, errors, the CMDB and deploys.

Usage::

    from dashboard import DashboardConfig, create_app

    app = create_app(DashboardConfig(elasticsearch={"hosts": ["https://127.0.0.1:9200"], "username": "oam-dashboard",
                                                    "password_file": pw_file, "ca_file": ca_file}, zookeeper="127.0.0.1:2181",
                                     cmdb_user="dashboard", cmdb_password=secret, secret_key=key))
    app.run(port=8080)

Users and their roles (viewer, operator, admin) live in the CMDB; see :mod:`dashboard.users`.
"""
from .app import create_app
from .config import DashboardConfig

__all__ = ["DashboardConfig", "create_app"]
