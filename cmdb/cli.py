"""``oam cmdb``: read and change the configuration tree, see hosts, history and locks.

Connection: ``--zk`` (default ``127.0.0.1:<zookeeper.port>`` from the oam settings, or
``$OAM_CMDB_ZK``) takes one server or several comma-separated. Credentials: ``--cmdb-user`` and
``--cmdb-password`` or ``$OAM_CMDB_USER`` / ``$OAM_CMDB_PASSWORD``; the password is never printed.
Commands that print data take ``-o json`` (see each command's help for the shape).
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from foundation.cli_options import CmdbConnection, cmdb_options, output_option
from foundation.output import echo_json, reported, table, to_json

from .acl import ROLES
from .client import Cmdb
from .connection import DEFAULT_CONNECT_TIMEOUT, DEFAULT_HISTORY_LIMIT
from .errors import CmdbError
from .events import SPOOL_ENV, SPOOL_FILE, ChangeSpool
from .lock import locks
from .paths import DEFAULT_ROOT
from .store import ChangeRecord, parse_json, pretty
from .transfer import dump_yaml, export_tree, import_tree, load_yaml
from .watch import Change


class CmdbOptions:
    """The group's options, turned into a connection on first use."""

    def __init__(self, zk: str, user: str | None, password: str | None, root: str, timeout: float,
                 history_limit: int, spool: Path | None) -> None:
        self.zk, self.user, self.password, self.root = zk, user, password, root
        self.timeout, self.history_limit, self.spool = timeout, history_limit, spool

    def open(self) -> Cmdb:
        return Cmdb(self.zk, user=self.user, password=self.password, root=self.root, timeout=self.timeout,
                    history_limit=self.history_limit, spool=ChangeSpool(self.spool) if self.spool else None)


def _settings(ctx: click.Context) -> Any:
    """The oam settings the ``oam`` command puts on the context; None where the group runs on its own."""
    return getattr(ctx.find_root().obj, "settings", None)


def with_suite_defaults(connection: CmdbConnection, settings: Any) -> CmdbConnection:
    """``connection`` with what it leaves unset taken from the oam settings' [cmdb] table
    (servers default to <host>:<zookeeper.port>); unchanged without settings."""
    if settings is None:
        return connection
    own = settings.cmdb
    return connection.or_defaults(zk=own.servers or f"{settings.host}:{settings.zookeeper.port}", user=own.user,
                                  password=own.password or None, root=own.root or DEFAULT_ROOT)


@click.group("cmdb", context_settings={"help_option_names": ["-h", "--help"]})
@cmdb_options
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_CONNECT_TIMEOUT, show_default=True,
              help="Seconds to wait for ZooKeeper before giving up.")
@click.option("--history-limit", type=click.IntRange(min=1), envvar="OAM_CMDB_HISTORY_LIMIT",
              help=f"Change records kept per key; older ones are trimmed on write [default: {DEFAULT_HISTORY_LIMIT}].")
@click.option("--spool", type=click.Path(path_type=Path), envvar=SPOOL_ENV,
              help=f"JSON-lines file for change events [default: <data_dir>/spool/{SPOOL_FILE}; env {SPOOL_ENV}].")
@click.pass_context
def cmdb_group(ctx: click.Context, cmdb: CmdbConnection, timeout: float, history_limit: int | None,
               spool: Path | None) -> None:
    """The CMDB on ZooKeeper: versioned configuration, live hosts, history and locks.

    \b
    Keys are environment/service/name; values are JSON.
      oam cmdb set prod/web/db '{"host": "db1", "pool": 20}' --comment "new db"
      oam cmdb get prod/web/db
      oam cmdb set prod/web/db '{"host": "db2"}' --expect-version 1
      oam cmdb history prod/web/db
      oam cmdb diff prod/web/db 1 2
      oam cmdb rollback prod/web/db 1
      oam cmdb watch prod/web/db          (prints every change; Ctrl-C stops)
      oam cmdb hosts
      oam cmdb export backup.yaml; oam cmdb import backup.yaml --dry-run

    \b
    Defaults come from the [cmdb] table of the oam settings file (servers, root, user,
    password, history_limit, spool); options and OAM_CMDB_* variables override them.
    --zk defaults to <host>:<zookeeper.port> of the settings (127.0.0.1:2181).

    \b
    -o json prints plain JSON: ls and hosts a list of objects, get one {key, version, value},
    history a list of change records, set/delete/rollback the change record made.
    """
    logging.getLogger("kazoo").addHandler(logging.NullHandler())
    logging.getLogger("kazoo").propagate = False
    settings = _settings(ctx)
    connection = with_suite_defaults(cmdb, settings).or_defaults(zk="127.0.0.1:2181")
    user, password = connection.user, connection.password
    if user and password is None:
        if sys.stdin.isatty():
            password = click.prompt(f"password for {user}", hide_input=True)
        else:
            raise click.ClickException(f"--cmdb-user {user} needs a password (--cmdb-password or OAM_CMDB_PASSWORD)")
    if settings is not None:
        own = settings.cmdb
        spool = spool or (Path(own.spool) if own.spool else settings.data_dir / "spool" / SPOOL_FILE)
        history_limit = history_limit or own.history_limit
    ctx.obj = CmdbOptions(connection.zk or "", user, password, connection.root or DEFAULT_ROOT, timeout,
                          history_limit or DEFAULT_HISTORY_LIMIT, spool)


@contextlib.contextmanager
def session(options: CmdbOptions) -> Iterator[Cmdb]:
    """The CMDB, open for one command and closed after; CMDB errors become one clear line."""
    with reported(CmdbError), options.open() as handle:
        yield handle


def connected(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run the command with an open CMDB as its first argument (see :func:`session`)."""

    @click.pass_obj
    @functools.wraps(func)
    def wrapper(options: CmdbOptions, *args: Any, **kwargs: Any) -> Any:
        with session(options) as handle:
            return func(handle, *args, **kwargs)

    return wrapper


def _read_value(value: str | None, file: Path | None, what: str) -> Any:
    if (value is None) == (file is None):
        raise click.UsageError("give the value either as an argument or with --file (- for stdin)")
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else _read_text(file)
    else:
        text = value or ""
    with reported(CmdbError):
        return parse_json(text, what)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


@cmdb_group.command()
@click.argument("key")
@click.option("--version", "version", type=int, help="Show the value at this version (from the history).")
@output_option
@connected
def get(handle: Cmdb, key: str, version: int | None, output: str) -> None:
    """Print KEY's value as JSON (its version goes to stderr).

    With -o json: {"key": ..., "version": N, "value": ...} on stdout.
    """
    entry = handle.store.get(key, version)
    if output == "json":
        echo_json({"key": entry.key, "version": entry.version, "value": entry.value})
        return
    click.echo(pretty(entry.value))
    click.echo(f"# {entry.key} version {entry.version}", err=True)


@cmdb_group.command("set")
@click.argument("key")
@click.argument("value", required=False)
@click.option("--file", "file", type=click.Path(path_type=Path), help="Read the JSON value from a file (- = stdin).")
@click.option("--expect-version", type=click.IntRange(min=0),
              help="Only write if KEY is still at this version (0: the key must be new).")
@click.option("--comment", "-m", default="", help="Why; kept in the history.")
@output_option
@click.pass_obj
def set_command(options: CmdbOptions, key: str, value: str | None, file: Path | None, expect_version: int | None,
                comment: str, output: str) -> None:
    """Set KEY to the JSON VALUE (compare-and-set on its version). -o json: the change record."""
    parsed = _read_value(value, file, key)
    with session(options) as handle:
        record = handle.store.set(key, parsed, expect_version=expect_version, comment=comment)
    _say_record(record, output, f"{record.key}: version {record.version} ({record.action})")


def _say_record(record: ChangeRecord, output: str, line: str) -> None:
    if output == "json":
        echo_json({"key": record.key, **record.to_json()})
    else:
        click.echo(line)


@cmdb_group.command()
@click.argument("key")
@click.option("--expect-version", type=click.IntRange(min=0), help="Only delete if KEY is still at this version.")
@click.option("--comment", "-m", default="", help="Why; kept in the history.")
@output_option
@connected
def delete(handle: Cmdb, key: str, expect_version: int | None, comment: str, output: str) -> None:
    """Delete KEY's value (its history stays; rollback brings it back). -o json: the change record."""
    record = handle.store.delete(key, expect_version=expect_version, comment=comment)
    _say_record(record, output, f"{record.key}: version {record.version} (delete)")


@cmdb_group.command("ls")
@click.argument("prefix", default="")
@click.option("--values", is_flag=True, help="Print each value too.")
@output_option
@connected
def ls_command(handle: Cmdb, prefix: str, values: bool, output: str) -> None:
    """List keys under PREFIX (environment, environment/service, ...) with their versions.

    With -o json: a list of {"key", "version"} (and "value" with --values).
    """
    entries = handle.store.entries(prefix)
    if output == "json":
        echo_json([{"key": e.key, "version": e.version, **({"value": e.value} if values else {})} for e in entries])
        return
    rows = [[e.key, f"v{e.version}", *([json.dumps(e.value, sort_keys=True)] if values else [])] for e in entries]
    if rows:
        click.echo(table(rows))


@cmdb_group.command()
@click.argument("key")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N changes.")
@output_option
@connected
def history(handle: Cmdb, key: str, limit: int | None, output: str) -> None:
    """Who changed KEY, when, how and why (oldest first).

    With -o json: a list of change records (key, version, action, user, at, comment, change_id,
    and the old and new values).
    """
    records = handle.store.history(key, limit)
    if not records:
        handle.store.get(key)  # a clear "no such key" if it never existed
    if output == "json":
        echo_json([{"key": record.key, **record.to_json()} for record in records])
        return
    click.echo(table([[f"v{r.version}", r.at, r.user, r.action, r.comment] for r in records],
                     headers=["VERSION", "AT", "USER", "ACTION", "COMMENT"]))


@cmdb_group.command()
@click.argument("key")
@click.argument("old_version", type=click.IntRange(min=0))
@click.argument("new_version", type=click.IntRange(min=0), required=False)
@output_option
@connected
def diff(handle: Cmdb, key: str, old_version: int, new_version: int | None, output: str) -> None:
    """Unified diff of KEY between OLD_VERSION and NEW_VERSION (default: the current one).

    With -o json: {"key", "old_version", "new_version", "diff"} (diff: the unified text, "" if none).
    """
    text = handle.store.diff(key, old_version, new_version)
    if output == "json":
        echo_json({"key": key, "old_version": old_version, "new_version": new_version, "diff": text})
        return
    click.echo(text.rstrip("\n") if text else "(no difference)")


@cmdb_group.command()
@click.argument("key")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--expect-version", type=click.IntRange(min=0), help="Only if KEY is still at this version.")
@click.option("--comment", "-m", default="", help="Why (default: 'rollback to version N').")
@output_option
@connected
def rollback(handle: Cmdb, key: str, version: int, expect_version: int | None, comment: str, output: str) -> None:
    """Make KEY's value at VERSION current again (as a new version). -o json: the change record."""
    record = handle.store.rollback(key, version, expect_version=expect_version, comment=comment)
    _say_record(record, output, f"{record.key}: version {record.version} (rollback to version {version})")


@cmdb_group.command()
@click.option("--environment", "-e", help="Only hosts of this environment.")
@click.option("--service", "-s", help="Only hosts that run this service.")
@output_option
@connected
def hosts(handle: Cmdb, environment: str | None, service: str | None, output: str) -> None:
    """Live hosts and known hosts that are down.

    With -o json: a list of host facts (name, role, environment, addresses, labels, services)
    with "state" (up or down) and "since".
    """
    rows = [h for h in handle.inventory.hosts()
            if (environment is None or h.facts.environment == environment)
            and (service is None or service in h.facts.services)]
    if output == "json":
        echo_json([{**row.facts.to_json(), "state": "up" if row.live else "down", "since": row.since}
                   for row in rows])
        return
    if not rows:
        click.echo("(no hosts)", err=True)
        return
    click.echo(table([[row.facts.name, "up" if row.live else "DOWN", row.facts.role or "-",
                       row.facts.environment or "-", ",".join(row.facts.addresses) or "-",
                       ",".join(row.facts.services) or "-"] for row in rows],
                     headers=["HOST", "STATE", "ROLE", "ENVIRONMENT", "ADDRESSES", "SERVICES"]))


@cmdb_group.command("export")
@click.argument("file", type=click.Path(path_type=Path), default="-")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="yaml: for people and review; json: the same document for scripts (import reads both).")
@connected
def export_command(handle: Cmdb, file: Path, output: str) -> None:
    """Write the whole tree (values, schemas, known hosts) as YAML to FILE (default: stdout)."""
    tree = export_tree(handle)
    text = to_json(tree) + "\n" if output == "json" else dump_yaml(tree)
    if str(file) == "-":
        click.echo(text, nl=False)
    else:
        file.write_text(text)
        click.echo(f"exported to {file}", err=True)


@cmdb_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the diff of what would change; change nothing.")
@click.option("--prune", is_flag=True, help="Also delete what the file does not have.")
@click.option("--comment", "-m", default="", help="Comment for the history (default: 'import from FILE').")
@output_option
@click.pass_obj
def import_command(options: CmdbOptions, file: Path, dry_run: bool, prune: bool, comment: str, output: str) -> None:
    """Make the tree match an export FILE (- for stdin).

    With -o json: a list of {"action", "kind", "name", "old", "new"} (what changed, or would).
    """
    text = sys.stdin.read() if str(file) == "-" else _read_text(file)
    with reported(CmdbError):
        document = load_yaml(text, str(file))
    with session(options) as handle:
        changes = import_tree(handle, document, prune=prune, dry_run=dry_run,
                              comment=comment or f"import from {file}")
    if output == "json":
        echo_json([{"action": c.action, "kind": c.kind, "name": c.name, "old": c.old, "new": c.new}
                   for c in changes])
        return
    if dry_run:
        for change in changes:
            click.echo(change.diff(), nl=False)
    elif changes:
        click.echo(table([[change.action, change.kind, change.name] for change in changes]))
    verb = "would change" if dry_run else "changed"
    click.echo(f"{verb} {len(changes)} item(s)" + (" (dry run)" if dry_run else ""), err=True)


@cmdb_group.command()
@click.argument("key")
@output_option
@connected
def watch(handle: Cmdb, key: str, output: str) -> None:
    """Print KEY's value, then every change as it is committed, until Ctrl-C.

    With -o json: one JSON object per line (JSON Lines): {"key", "version", "exists", "value",
    "user", "comment", "missed"}.
    """

    def show(change: Change) -> None:
        if output == "json":
            record = change.record
            click.echo(json.dumps({"key": change.key, "version": change.version, "exists": change.exists,
                                   "value": change.value, "user": record.user if record else None,
                                   "comment": record.comment if record else None, "missed": change.missed},
                                  sort_keys=True))
            sys.stdout.flush()
            return
        value = json.dumps(change.value, sort_keys=True) if change.exists else "(no value)"
        who = f"  by {change.record.user}" if change.record else ""
        note = f": {change.record.comment}" if change.record and change.record.comment else ""
        skipped = f"  ({change.missed} older change(s) no longer in history)" if change.missed else ""
        click.echo(f"v{change.version}  {value}{who}{note}{skipped}")
        sys.stdout.flush()

    handle.watch(key, show)
    stop = threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


@cmdb_group.group()
def schema() -> None:
    """JSON schemas that values of matching keys must follow (patterns like '*/web/db')."""


@schema.command("set")
@click.argument("pattern")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_obj
def schema_set(options: CmdbOptions, pattern: str, file: Path) -> None:
    """Register the JSON schema in FILE (- for stdin) for keys matching PATTERN."""
    text = sys.stdin.read() if str(file) == "-" else _read_text(file)
    with session(options) as handle:
        handle.schemas.register(pattern, parse_json(text, f"the schema {pattern}"))
    click.echo(f"schema for {pattern} registered")


@schema.command("get")
@click.argument("pattern")
@output_option
@connected
def schema_get(handle: Cmdb, pattern: str, output: str) -> None:
    """Print the schema registered for PATTERN (JSON either way; -o json is accepted for scripts)."""
    click.echo(pretty(handle.schemas.get(pattern)))


@schema.command("ls")
@output_option
@connected
def schema_ls(handle: Cmdb, output: str) -> None:
    """List the patterns that have a schema. -o json: a list of the patterns."""
    patterns = list(handle.schemas.all())
    if output == "json":
        echo_json(patterns)
        return
    for pattern in patterns:
        click.echo(pattern)


@schema.command("rm")
@click.argument("pattern")
@connected
def schema_rm(handle: Cmdb, pattern: str) -> None:
    """Remove the schema of PATTERN."""
    handle.schemas.remove(pattern)
    click.echo(f"schema for {pattern} removed")


@cmdb_group.command("locks")
@output_option
@connected
def locks_command(handle: Cmdb, output: str) -> None:
    """Locks held now: by whom, where, since when.

    With -o json: a list of {"name", "who", "host", "pid", "since", "waiting"}.
    """
    held = locks(handle)
    if output == "json":
        echo_json(held)
        return
    if not held:
        click.echo("(no locks held)", err=True)
        return
    click.echo(table([[h.name, h.who, f"{h.host}:{h.pid}", h.since, h.waiting or ""] for h in held],
                     headers=["LOCK", "HELD BY", "WHERE", "SINCE", "WAITING"]))


@cmdb_group.command()
@click.argument("user")
@click.option("--role", type=click.Choice(ROLES), required=True, help="reader: read only; writer: read and "
              "change; admin: also change ACLs.")
@click.option("--user-password", envvar="OAM_CMDB_GRANT_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True, help="USER's password (prompted if not given; env OAM_CMDB_GRANT_PASSWORD).")
@click.option("--scope", "scopes", multiple=True, metavar="PATH",
              help="Only this subtree below the root (repeat; * matches one segment): hosts, "
                   "config/*/*/deploy, secrets/dashboard... Default: the whole tree but secrets.")
@connected
def grant(handle: Cmdb, user: str, role: str, user_password: str, scopes: tuple[str, ...]) -> None:
    """Give USER a role on the whole tree or on --scope subtrees (needs admin credentials).

    A grant on the whole tree replaces every grant USER had; one with --scope replaces USER's
    grants on those scopes only.
    """
    count = handle.grant(user, user_password, role, scopes)  # type: ignore[arg-type]
    where = f" on {', '.join(scopes)}" if scopes else ""
    click.echo(f"{user} is now {role}{where} ({count} nodes updated)")


@cmdb_group.command()
@click.argument("user")
@connected
def revoke(handle: Cmdb, user: str) -> None:
    """Take all of USER's permissions away."""
    with reported(ValueError):
        count = handle.revoke(user)
    click.echo(f"{user} revoked ({count} nodes updated)")


@cmdb_group.command()
@output_option
@connected
def access(handle: Cmdb, output: str) -> None:
    """Accounts that may use the tree, and their roles ("writer on hosts" for a scoped grant).
    -o json: a list of {"user", "role"}."""
    accounts = handle.access()
    if output == "json":
        echo_json([{"user": user, "role": role} for user, role in accounts])
        return
    click.echo(table(accounts, headers=["USER", "ROLE"]))
