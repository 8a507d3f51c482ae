"""``oam alerts``: rules in the CMDB (ls, get, set, delete), the evaluator (run), its history, a
rule's replay over stored data (test) and the mailbox (mail).

Rules are the CMDB keys ``<environment>/alerts/<name>`` (``-e``, default ``$OAM_ENVIRONMENT`` or
production); the CMDB options are ``oam cmdb``'s. ``set`` refuses an invalid rule with one line
naming the field, and registers the rule schema so the CMDB refuses one written by other means too.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
from elasticsearch import ApiError, TransportError

from backing_services.smtp import read_mailbox
from cmdb import CmdbError, PermissionDenied
from cmdb.cli import CmdbOptions, session, with_suite_defaults
from cmdb.connection import DEFAULT_CONNECT_TIMEOUT, DEFAULT_HISTORY_LIMIT
from cmdb.paths import DEFAULT_ROOT
from cmdb.store import parse_json, pretty
from foundation.cli_options import CmdbConnection, cmdb_options, log_format_option, output_option
from foundation.clock import utc_iso
from foundation.daemon_logging import configure_daemon_logging
from foundation.elasticsearch import ElasticsearchConnection, connect
from foundation.output import CommandError, echo_json, reported, table
from foundation.settings import SettingsError, validate
from foundation.suite import smtp_dir, suite_elasticsearch

from . import silences
from .evaluator import Evaluator, EvaluatorOptions, evaluators
from .history import ACTIONS, search_history
from .notify import figure
from .queries import QueryFailed
from .replay import Replay, ReplayError, evaluation_times, parse_moment, replay
from .rules import Rule, RuleError, check, parse_duration, parse_rule, rule_key
from .silences import SilenceError, parse_matcher, split_urls
from .state import FIRING, PENDING
from .store import RuleState, install_schema, load_rules, load_states

MAILBOX_ENV = "OAM_ALERTS_MAILBOX"


class AlertsContext:
    """The group's options: the CMDB (opened per command) and the environment."""

    def __init__(self, cmdb: CmdbOptions, environment: str, settings: Any) -> None:
        self.cmdb, self.environment, self.settings = cmdb, environment, settings


def _settings(ctx: click.Context) -> Any:
    return getattr(ctx.find_root().obj, "settings", None)


@click.group("alerts", context_settings={"help_option_names": ["-h", "--help"]})
@cmdb_options
@click.option("--environment", "-e", envvar="OAM_ENVIRONMENT", default="production", show_default=True,
              help="The environment whose rules to use [env OAM_ENVIRONMENT].")
@click.pass_context
def alerts(ctx: click.Context, cmdb: CmdbConnection, environment: str) -> None:
    """Alert rules in the CMDB, evaluated against Elasticsearch, delivered by Alertmanager.

    \b
      oam alerts set order-errors '{"kind": "service", "service": "order-service",
          "measure": "error_rate", "op": ">", "threshold": 5, "window": "1m", "for": "2m"}'
      oam alerts ls                 rules with their firing and pending groups
      oam alerts get order-errors   the rule, and each group's state
      oam alerts history order-errors --since 24h --state firing   its transitions, newest first
      oam alerts run --alertmanager http://127.0.0.1:9093 --alertmanager http://127.0.0.1:9095
      oam alerts test order-errors --since 24h   when it would have fired and resolved
      oam alerts mail --mailbox DIR the mail the SMTP receiver got
      oam alerts silence add alertname=order-errors --for 2h -m 'deploying'   (also: silence ls, expire ID)

    Rules are CMDB keys <environment>/alerts/<name>: `oam cmdb history` and `oam cmdb rollback` work on them.
    """
    settings = _settings(ctx)
    connection = with_suite_defaults(cmdb, settings).or_defaults(zk="127.0.0.1:2181")
    if connection.user and connection.password is None:
        raise click.ClickException(f"--cmdb-user {connection.user} needs a password (--cmdb-password or "
                                   "OAM_CMDB_PASSWORD)")
    options = CmdbOptions(connection.zk or "", connection.user, connection.password, connection.root or DEFAULT_ROOT,
                          DEFAULT_CONNECT_TIMEOUT, DEFAULT_HISTORY_LIMIT, None)
    ctx.obj = AlertsContext(options, environment, settings)


def _counts(state: RuleState | None) -> tuple[int, int]:
    groups = state.groups.values() if state else []
    return sum(g.state == FIRING for g in groups), sum(g.state == PENDING for g in groups)


@alerts.command("ls")
@output_option
@click.pass_obj
def ls_command(obj: AlertsContext, output: str) -> None:
    """The environment's rules: what each watches, its firing and pending groups, its error.

    With -o json: a list of {"name", "key", "kind", "severity", "describe", "firing", "pending", "error"}.
    """
    with session(obj.cmdb) as handle:
        rules, broken = load_rules(handle, obj.environment)
        states = load_states(handle, obj.environment)
    rows = []
    for rule in rules:
        firing, pending = _counts(states.get(rule.name))
        error = states[rule.name].error if rule.name in states else None
        rows.append({"name": rule.name, "key": rule.key, "kind": rule.kind, "severity": rule.severity,
                     "describe": rule.describe(), "firing": firing, "pending": pending, "error": error})
    rows += [{"name": key.rsplit("/", 1)[-1], "key": key, "kind": None, "severity": None, "describe": None,
              "firing": 0, "pending": 0, "error": reason} for key, reason in broken.items()]
    if output == "json":
        echo_json(rows)
        return
    if not rows:
        click.echo(f"(no rules in {obj.environment})", err=True)
        return
    click.echo(table([[r["name"], r["kind"] or "INVALID", r["severity"] or "-", r["firing"], r["pending"],
                       r["error"] or r["describe"]] for r in rows],
                     headers=["RULE", "KIND", "SEVERITY", "FIRING", "PENDING", "WATCHES"]))


@alerts.command("status")
@output_option
@click.pass_obj
def status_command(obj: AlertsContext, output: str) -> None:
    """Which evaluator is active and which stand by; exit 1 if none runs.

    With -o json: {"environment", "active": identity or null, "standby": [identities]}.
    """
    with session(obj.cmdb) as handle:
        names = evaluators(handle, obj.environment)
    if output == "json":
        echo_json({"environment": obj.environment, "active": names[0] if names else None, "standby": names[1:]})
    elif names:
        click.echo(table([[name, "active" if n == 0 else "standby"] for n, name in enumerate(names)],
                         headers=["EVALUATOR", "ROLE"]))
    else:
        click.echo(f"no evaluator runs for {obj.environment}", err=True)
    sys.exit(0 if names else 1)


@alerts.command("get")
@click.argument("name")
@output_option
@click.pass_obj
def get_command(obj: AlertsContext, name: str, output: str) -> None:
    """Print the rule NAME as JSON, then each group's state (to stderr).

    With -o json: {"key", "version", "rule", "groups": {group: state}, "error"}.
    """
    key = rule_key(obj.environment, name)
    with session(obj.cmdb) as handle:
        entry = handle.store.get(key)
        state = load_states(handle, obj.environment).get(name)
    groups = {k: v.to_json() for k, v in state.groups.items()} if state else {}
    if output == "json":
        echo_json({"key": key, "version": entry.version, "rule": entry.value, "groups": groups,
                   "error": state.error if state else None})
        return
    click.echo(pretty(entry.value))
    click.echo(f"# {key} version {entry.version}", err=True)
    for group, data in sorted(groups.items()):
        click.echo(f"# {group}: {data['state']} value {data['value']}", err=True)
    if state and state.error:
        click.echo(f"# error: {state.error}", err=True)


@alerts.command("set")
@click.argument("name")
@click.argument("value", required=False)
@click.option("--file", "file", type=click.Path(path_type=Path), help="Read the JSON rule from a file (- = stdin).")
@click.option("--expect-version", type=click.IntRange(min=0), help="Only if the rule is still at this version.")
@click.option("--comment", "-m", default="", help="Why; kept in the CMDB history.")
@click.pass_obj
def set_command(obj: AlertsContext, name: str, value: str | None, file: Path | None, expect_version: int | None,
                comment: str) -> None:
    """Create or change the rule NAME (JSON VALUE or --file); an invalid rule is refused."""
    key = rule_key(obj.environment, name)
    if (value is None) == (file is None):
        raise click.UsageError("give the rule either as an argument or with --file (- for stdin)")
    try:
        text = value if file is None else (sys.stdin.read() if str(file) == "-" else file.read_text())
    except OSError as exc:
        raise CommandError(f"cannot read {file}: {exc.strerror}") from None
    with reported(CmdbError):
        rule = parse_json(text or "", key)
        reason = check(key, rule)
    if reason:
        raise CommandError(reason)
    with session(obj.cmdb) as handle:
        install_schema(handle)
        record = handle.store.set(key, rule, expect_version=expect_version, comment=comment)
    click.echo(f"{record.key}: version {record.version} ({record.action})")


@alerts.command("delete")
@click.argument("name")
@click.option("--comment", "-m", default="", help="Why; kept in the CMDB history.")
@click.pass_obj
def delete_command(obj: AlertsContext, name: str, comment: str) -> None:
    """Delete the rule NAME (its history stays; the evaluator resolves what it had firing)."""
    with session(obj.cmdb) as handle:
        record = handle.store.delete(rule_key(obj.environment, name), comment=comment)
    click.echo(f"{record.key}: version {record.version} (delete)")


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _elasticsearch(settings: Any, url: str | None, user: str | None, password: str | None,
                   ca_file: str | None) -> Any:
    """The evaluator's client: the suite's alerts user (reads, writes the alert history only) unless
    --es names another server."""
    base: dict[str, Any] = suite_elasticsearch(settings, "alerts") if settings is not None and not url else {}
    if url:
        base["hosts"] = [part.strip() for part in url.split(",") if part.strip()]
    overrides = {"username": user, "password": password, "ca_file": ca_file}
    base.update({k: v for k, v in overrides.items() if v})
    if password:
        base.pop("password_file", None)
    with reported(SettingsError, ValueError):
        return connect(validate(ElasticsearchConnection, base, "--es"), request_timeout=10)


def _es_options(func: Any) -> Any:
    """``--es``, ``--es-user``, ``--es-password``, ``--es-ca-file`` (see :func:`_elasticsearch`)."""
    for option in reversed([
        click.option("--es", "es_url", envvar="OAM_ES_URL", help="Elasticsearch (nodes comma-separated) "
                     "[default: the suite's, env OAM_ES_URL]."),
        click.option("--es-user", envvar="OAM_ES_USER", help="Elasticsearch user [env OAM_ES_USER]."),
        click.option("--es-password", envvar="OAM_ES_PASSWORD", help="Its password [env OAM_ES_PASSWORD]."),
        click.option("--es-ca-file", envvar="OAM_ES_CA_FILE", help="CA of an https Elasticsearch [env OAM_ES_CA_FILE].")]):
        func = option(func)
    return func


@alerts.command("history")
@click.argument("rule", required=False, default="")
@click.option("--since", default="24h", show_default=True, callback=_duration, help="How far back.")
@click.option("--state", "states", multiple=True, type=click.Choice(ACTIONS),
              help="Only these transitions (repeat).")
@click.option("--limit", type=click.IntRange(min=1, max=10000), default=100, show_default=True,
              help="At most this many.")
@_es_options
@click.option("--index-prefix", default="oam", show_default=True, help="Prefix of the Elasticsearch indices.")
@output_option
@click.pass_obj
def history_command(obj: AlertsContext, rule: str, since: float, states: tuple[str, ...], limit: int,
                    es_url: str | None, es_user: str | None, es_password: str | None, es_ca_file: str | None,
                    index_prefix: str, output: str) -> None:
    """The alert transitions (of RULE, or of every rule) from <prefix>-alerts-*, newest first.

    With -o json: a list of {"timestamp", "rule", "state", "previous", "value", "severity", "labels",
    "message", "error"}.
    """
    client = _elasticsearch(obj.settings, es_url, es_user, es_password, es_ca_file)
    with reported(ApiError, TransportError):
        rows = search_history(client, index_prefix, rule=rule, since=time.time() - since, states=states,
                              size=limit)
    if output == "json":
        echo_json(rows)
        return
    if not rows:
        click.echo("(no alert transitions)", err=True)
        return
    click.echo(table([[r["timestamp"], r["rule"], f"{r['previous']} -> {r['state']}", figure(r["value"]),
                       ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items())) or "-",
                       r["error"] or r["message"]] for r in rows],
                     headers=["TIME", "RULE", "TRANSITION", "VALUE", "LABELS", "MESSAGE"]))


STOP_GRACE = 20.0


def _exit_if_stuck(stop: threading.Event, grace: float) -> None:
    """Once asked to stop, exit within ``grace`` seconds even if ZooKeeper or Elasticsearch went away
    with us (kazoo retries a write forever; the state of every finished round is already saved)."""
    stop.wait()
    time.sleep(grace)
    print(f"alerts: not stopped within {grace:g}s (ZooKeeper or Elasticsearch unreachable); exiting", file=sys.stderr)
    os._exit(1)


@alerts.command("run")
@click.option("--alertmanager", "alertmanagers", multiple=True, envvar="OAM_ALERTMANAGERS",
              help="An Alertmanager's URL; repeat for each peer (each gets every alert) [env OAM_ALERTMANAGERS].")
@_es_options
@click.option("--index-prefix", default="oam", show_default=True, help="Prefix of the Elasticsearch indices.")
@click.option("--resend", default="1m", show_default=True, callback=_duration,
              help="A firing alert is sent again this often.")
@click.option("--resolved-for", default="5m", show_default=True, callback=_duration,
              help="A resolved alert is sent for this long.")
@click.option("--reload", default="5s", show_default=True, callback=_duration,
              help="How often the rules are read from the CMDB.")
@click.option("--dashboard-url", default="", help="The dashboard's URL, for each alert's link.")
@click.option("--identity", help="This evaluator's name in the election [default: host:pid].")
@log_format_option
@click.pass_obj
def run_command(obj: AlertsContext, alertmanagers: tuple[str, ...], es_url: str | None, es_user: str | None,
                es_password: str | None, es_ca_file: str | None, index_prefix: str, resend: float, resolved_for: float,
                reload: float, dashboard_url: str, identity: str | None, log_format: str) -> None:
    """Evaluate the environment's rules until Ctrl-C or SIGTERM (SIGHUP is logged and ignored:
    the rules are re-read every --reload anyway).

    Run two or more on different machines: one is active (a ZooKeeper election), the others stand
    by and take over with the persisted state when it goes away.
    """
    configure_daemon_logging("oam-alerts", "info", log_format)
    logging.getLogger("kazoo").setLevel(logging.WARNING)
    urls = [url for value in alertmanagers for url in value.split() if url]
    if not urls:
        click.echo("warning: no --alertmanager: alerts are evaluated but sent nowhere", err=True)
    client = _elasticsearch(obj.settings, es_url, es_user, es_password, es_ca_file)
    options = EvaluatorOptions(obj.environment, urls, resend=resend, resolved_for=resolved_for, reload=reload,
                               dashboard=dashboard_url, prefix=index_prefix)
    if identity:
        options.identity = identity
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: logging.getLogger("oam.alerts").info(
        "SIGHUP: the rules are read from the CMDB every %gs already; options change with a restart", reload))
    threading.Thread(target=_exit_if_stuck, args=(stop, STOP_GRACE), name="alerts-stop-watchdog", daemon=True).start()
    with session(obj.cmdb) as handle:
        try:
            install_schema(handle)
        except PermissionDenied as exc:  # a read-only account: whoever writes rules registers the schema
            click.echo(f"warning: the rule schema is not registered as this version has it ({exc}); "
                       "rules are still checked when read", err=True)
        evaluator = Evaluator(handle, client, options)
        click.echo(f"evaluator {options.identity}: rules of {obj.environment}; waiting to be the active one",
                   err=True)
        # A daemon: a round stuck on an unreachable Elasticsearch does not keep a stopped process alive.
        worker = threading.Thread(target=evaluator.run, args=(stop,), name="alerts-evaluator", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.5)
        except KeyboardInterrupt:
            stop.set()
        finally:
            died = not stop.is_set()  # the loop ended on its own: a bug; the supervisor restarts us
            stop.set()
            worker.join(10)
    if died:
        raise click.ClickException("the evaluator stopped unexpectedly (see the traceback above)")
    click.echo("stopped.", err=True)


def _rule_to_test(obj: AlertsContext, name: str, rule_json: str | None) -> tuple[Rule, list[str]]:
    """The rule (the stored one, or ``--rule-json``) and, for an ``absent`` rule, the CMDB's hosts."""
    key = rule_key(obj.environment, name)
    value = None
    if rule_json is not None:
        with reported(CmdbError):
            value = parse_json(rule_json, "--rule-json")
        if isinstance(value, dict) and value.get("kind") != "absent":
            with reported(RuleError):
                return parse_rule(key, value), []
    with session(obj.cmdb) as handle:
        if value is None:
            value = handle.store.get(key).value
        with reported(RuleError):
            rule = parse_rule(key, value)
        hosts = [facts.name for facts in handle.inventory.known().values()
                 if facts.environment == rule.environment and (not rule.role or facts.role == rule.role)]
    return rule, hosts


class _Progress:
    """``replayed N/M evaluations`` on stderr every two seconds of a long replay."""

    def __init__(self) -> None:
        self.shown = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if time.monotonic() - self.shown >= 2.0 and done < total:
            self.shown = time.monotonic()
            click.echo(f"replayed {done}/{total} evaluations", err=True)


@alerts.command("test")
@click.argument("name")
@click.option("--rule-json", help="Replay this JSON rule instead of the stored NAME (try a rule before saving it).")
@click.option("--since", default="24h", show_default=True,
              help="Where the replay starts: a duration ago (24h) or an ISO 8601 time.")
@click.option("--until", default="now", show_default=True, help="Where it ends: now, a duration ago or ISO 8601.")
@click.option("--step", help="Time between evaluations [default: the rule's interval].")
@click.option("--resolved-for", default="5m", show_default=True, callback=_duration,
              help="As `run`'s: a resolved group is forgotten after this long.")
@_es_options
@click.option("--index-prefix", default="oam", show_default=True, help="Prefix of the Elasticsearch indices.")
@output_option
@click.pass_obj
def test_command(obj: AlertsContext, name: str, rule_json: str | None, since: str, until: str, step: str | None,
                 resolved_for: float, es_url: str | None, es_user: str | None, es_password: str | None,
                 es_ca_file: str | None, index_prefix: str, output: str) -> None:
    """Replay the rule NAME over stored data: when it would have fired and resolved, with the values.

    The rule is evaluated as of each step from --since to --until (at most 5000 steps) with the
    evaluator's own queries and state machine, starting from no state.
    With -o json: {"key", "since", "until", "step", "evaluations", "transitions": [{"at", "labels",
    "old", "new", "value", "threshold"}], "fired", "firing_seconds", "firing_at_end": [labels]}.
    """
    rule, hosts = _rule_to_test(obj, name, rule_json)
    now = time.time()
    with reported(ReplayError, ValueError):
        start, end = parse_moment(since, now), parse_moment(until, now)
        seconds = parse_duration(step) if step else rule.interval
        times = evaluation_times(start, end, seconds)
    client = _elasticsearch(obj.settings, es_url, es_user, es_password, es_ca_file)
    with reported(QueryFailed, ReplayError):
        result = replay(client, rule, times, hosts, index_prefix, resolved_for, _Progress())
    _print_replay(rule, result, times, seconds, output)


def _print_replay(rule: Rule, result: Replay, times: list[float], step: float, output: str) -> None:
    rows = [{"at": utc_iso(change.at, "milliseconds"), "labels": change.labels, "old": change.old,
             "new": change.new, "value": change.value, "threshold": rule.threshold} for change in result.changes]
    summary = {"key": rule.key, "describe": rule.describe(), "since": utc_iso(times[0], "milliseconds"),
               "until": utc_iso(times[-1], "milliseconds"), "step": step, "evaluations": result.evaluations,
               "transitions": rows, "fired": result.fired, "firing_seconds": round(result.firing_seconds, 3),
               "firing_at_end": result.firing_at_end}
    if output == "json":
        echo_json(summary)
        return
    click.echo(f"# {rule.key}: {rule.describe()}", err=True)
    if rows:
        click.echo(table([[r["at"], ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items())) or "-", f"{r['old']} -> {r['new']}",
                           figure(r["value"]), f"{rule.op} {rule.threshold:g}"] for r in rows],
                         headers=["TIME", "GROUP", "STATE", "VALUE", "THRESHOLD"]))
    still = f"; {len(result.firing_at_end)} group(s) still firing at the end" if result.firing_at_end else ""
    click.echo(f"would have fired {result.fired} time(s), firing {result.firing_seconds:g}s in total{still} "
               f"({result.evaluations} evaluations every {step:g}s from {summary['since']} to {summary['until']})")


@alerts.command("mail")
@click.option("--mailbox", type=click.Path(path_type=Path), envvar=MAILBOX_ENV,
              help=f"The SMTP receiver's Maildir [default: the local suite's (oam up); env {MAILBOX_ENV}].")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N messages.")
@output_option
@click.pass_obj
def mail_command(obj: AlertsContext, mailbox: Path | None, limit: int | None, output: str) -> None:
    """Print the notifications the SMTP receiver got, oldest first.

    With -o json: a list of {"date", "from", "to", "subject", "body"} (body: the plain-text part).
    """
    if mailbox is None:
        if obj.settings is None:
            raise click.UsageError("--mailbox is needed (no oam settings to find the local suite's)")
        mailbox = smtp_dir(obj.settings.data_dir) / "mailbox"
    messages = read_mailbox(mailbox)
    if limit:
        messages = messages[-limit:]
    rows = [{"date": m.get("Date", ""), "from": m.get("From", ""), "to": m.get("To", ""),
             "subject": m.get("Subject", ""), "body": _text_of(m)} for m in messages]
    if output == "json":
        echo_json(rows)
        return
    if not rows:
        click.echo("(no mail)", err=True)
    for row in rows:
        click.echo(f"Date: {row['date']}\nFrom: {row['from']}\nTo: {row['to']}\nSubject: {row['subject']}\n\n"
                   f"{row['body'].strip()}\n")


def _text_of(message: Any) -> str:
    """The plain-text part of a message (or its HTML part with the tags left in)."""
    parts = list(message.walk()) if message.is_multipart() else [message]
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.get_content_type() == wanted:
                payload = part.get_payload(decode=True) or b""
                return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""



_ALERTMANAGER_OPTION = click.option(
    "--alertmanager", "alertmanagers", multiple=True, envvar="OAM_ALERTMANAGERS",
    help="An Alertmanager's URL; repeat for each peer (the first that answers is used) [env OAM_ALERTMANAGERS].")


@alerts.group("silence")
def silence_group() -> None:
    """Silences in Alertmanager: add for matchers, ls, expire.

    \b
      oam alerts silence add alertname=order-errors 'host=~web-.*' --for 2h --comment "deploying 4.1"
      oam alerts silence ls
      oam alerts silence expire 5c0a…
    """


@silence_group.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", default="1h", show_default=True, help="How long the silence lasts (30m, 2h).")
@click.option("--comment", "-m", required=True, help="Why (shown beside the silence).")
@click.option("--creator", default=lambda: os.environ.get("USER", "oam"), help="Who [default: $USER].")
@_ALERTMANAGER_OPTION
def silence_add(matchers: tuple[str, ...], duration: str, comment: str, creator: str,
                alertmanagers: tuple[str, ...]) -> None:
    """Silence alerts matching every MATCHER (name=value, name!=value, name=~regex, name!~regex); prints its id."""
    with reported(SilenceError):
        parsed = [parse_matcher(text) for text in matchers]
        click.echo(silences.create(split_urls(alertmanagers), parsed, silences.parse_duration(duration), comment,
                                   creator))


@silence_group.command("ls")
@click.option("--all", "show_all", is_flag=True, help="Also the expired ones.")
@_ALERTMANAGER_OPTION
@output_option
def silence_ls(show_all: bool, alertmanagers: tuple[str, ...], output: str) -> None:
    """Active and pending silences (with --all: expired ones too).

    With -o json: a list of {"id", "state", "matchers", "startsAt", "endsAt", "createdBy", "comment"}.
    """
    states = silences.STATES if show_all else ("active", "pending")
    with reported(SilenceError):
        rows = silences.list_silences(split_urls(alertmanagers), states)
    if output == "json":
        echo_json([row.to_json() for row in rows])
        return
    if not rows:
        click.echo("(no silences)", err=True)
        return
    click.echo(table([[r.id, r.state, " ".join(r.matchers), r.ends_at, r.created_by, r.comment] for r in rows],
                     headers=["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"]))


@silence_group.command("expire")
@click.argument("silence_id")
@_ALERTMANAGER_OPTION
def silence_expire(silence_id: str, alertmanagers: tuple[str, ...]) -> None:
    """End the silence SILENCE_ID now."""
    with reported(SilenceError):
        silences.expire(split_urls(alertmanagers), silence_id)
    click.echo(f"{silence_id}: expired")
