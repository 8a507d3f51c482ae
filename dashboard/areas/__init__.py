"""One blueprint per area of the dashboard; each serves its page(s) and its part of the JSON API."""
from .alerts import bp as alerts_bp
from .changes import bp as changes_bp
from .cmdb_browser import bp as cmdb_bp
from .deployments import bp as deployments_bp
from .errors import bp as errors_bp
from .hosts import bp as hosts_bp
from .latency import bp as latency_bp
from .logs import bp as logs_bp
from .openapi import bp as openapi_bp
from .overview import bp as overview_bp
from .service_map import bp as service_map_bp
from .services import bp as services_bp
from .tokens import bp as tokens_bp
from .trace_search import bp as trace_search_bp
from .traces import bp as traces_bp
from .users import bp as users_bp

AREAS = [overview_bp, hosts_bp, services_bp, latency_bp, service_map_bp, logs_bp, trace_search_bp, traces_bp, errors_bp,
         changes_bp, cmdb_bp, deployments_bp, alerts_bp, users_bp, tokens_bp, openapi_bp]
