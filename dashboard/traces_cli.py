"""``oam traces search``: the dashboard's trace search from a terminal, straight from Elasticsearch."""
from __future__ import annotations

from typing import Any

import click

from foundation.cli_options import output_option
from foundation.elasticsearch import connect
from foundation.output import CommandError, echo_json, reported, table
from foundation.settings import SettingsError, validate

from .cli import _elasticsearch, _settings, elasticsearch_options
from .config import DashboardConfig
from .trace_query import DURATION_OF, MAX_LIMIT, OUTCOMES, SORTS, BadTraceQuery, parse_query
from .trace_search import search_traces


@click.group("traces")
def traces() -> None:
    """Find traces (GTXs) by what happened in them; `oam trace GTX` then shows one."""


def _label(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, wanted = value.partition("=")
        if not sep or not name.strip() or not wanted.strip():
            raise click.BadParameter(f"{value!r} is not NAME=VALUE (e.g. shard=2)")
        pairs.append((f"labels.{name.strip()}", wanted))
    return pairs


@traces.command("search")
@click.option("--service", help="A transaction of this service (service.name).")
@click.option("--caller", help="A transaction called by this service (service.origin.name; the service map's edges).")
@click.option("--operation", help="A transaction of this name (transaction.name), e.g. 'POST /orders'.")
@click.option("--outcome", type=click.Choice(OUTCOMES), help="A transaction with this outcome (event.outcome).")
@click.option("--status", help="A transaction with this HTTP status (http.response.status_code).")
@click.option("--host", help="A transaction on this host (host.name).")
@click.option("--service-version", "version", help="A transaction of this version (service.version).")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE", callback=_label,
              help="A transaction or span with labels.NAME = VALUE (repeat: all must hold).")
@click.option("--text", help="A log line of the trace with all these words.")
@click.option("--error-group", help="An error of the trace in this group (error.grouping_key, see Errors).")
@click.option("--min-duration", metavar="DURATION", help="At least this long: 200, 200ms or 1.5s.")
@click.option("--max-duration", metavar="DURATION", help="At most this long.")
@click.option("--duration-of", type=click.Choice(DURATION_OF), default="trace", show_default=True,
              help="What the durations bound: the whole trace (first start to last end) or one transaction.")
@click.option("--sort", type=click.Choice(SORTS), default="newest", show_default=True,
              help="Newest first (trace start) or slowest first (trace duration); ties by trace id.")
@click.option("--limit", default="20", show_default=True, help=f"How many traces (1 to {MAX_LIMIT}).")
@click.option("--from", "start", default="now-1h", show_default=True,
              help="Range start: now, now-15m, now-2h, now-7d or an ISO 8601 time.")
@click.option("--to", "end", default="now", show_default=True, help="Range end.")
@elasticsearch_options
@output_option
@click.pass_context
def search(ctx: click.Context, labels: list[tuple[str, str]], output: str, **params: Any) -> None:
    """Traces matching every filter given, as a table or (-o json) the dashboard API's answer.

    The transaction filters (service, caller, operation, outcome, status, host, version) must all hold
    for one transaction of the trace; labels for one transaction or span; text for one log line.

    \b
    Examples:
      oam traces search --min-duration 200ms                      # slow traces of the last hour
      oam traces search --service backend --label shard=2 --sort slowest
      oam traces search --min-duration 1s --duration-of transaction --from now-1d -o json
    """
    names = {"start": "from", "end": "to"}
    connection = {key: params.pop(key) for key in ("elasticsearch", "es_user", "es_password", "es_ca_file")}
    prefix = params.pop("index_prefix") or "oam"
    pairs = [(names.get(key, key), value) for key, value in params.items() if value is not None]
    with reported(BadTraceQuery):
        query = parse_query([*pairs, *labels])
    with reported(SettingsError):
        config = validate(DashboardConfig, {"elasticsearch": _elasticsearch(_settings(ctx), connection),
                                            "index_prefix": prefix}, "the Elasticsearch options")
    from elasticsearch import ApiError, TransportError

    client = connect(config.elasticsearch, request_timeout=30)
    try:
        answer = search_traces(client, config.index_prefix, query)
    except (ApiError, TransportError) as exc:
        raise CommandError(f"Elasticsearch at {config.elasticsearch.describe()} did not answer the search: "
                           f"{type(exc).__name__}: {exc}") from None
    finally:
        client.close()
    if output == "json":
        echo_json(answer)
        return
    rows = [[t["start"], f"{t['root']['service']}: {t['root']['operation']}", f"{t['duration_ms']:.1f}",
             ",".join(t["services"]), t["spans"], t["errors"], t["trace_id"]] for t in answer["traces"]]
    click.echo(table(rows, headers=["START", "ROOT OPERATION", "MS", "SERVICES", "SPANS", "ERRORS", "GTX"],
                     align=["left", "left", "right", "left", "right", "right", "left"]))
    if answer["truncated"]:
        click.echo(f"only the newest {answer['candidates']} candidate traces were considered; narrow the range",
                   err=True)
    if not rows:
        click.echo("no trace matches.", err=True)
