"""Options every command spells the same way: the CMDB connection and ``-o table|json``.

::

    @click.command()
    @cmdb_options
    @output_option
    def hosts(cmdb: CmdbConnection, output: str) -> None:
        with Cmdb(**cmdb.or_defaults(zk="127.0.0.1:2181").client_kwargs()) as handle: ...

``--zk`` (``$OAM_CMDB_ZK``), ``--cmdb-user`` (``$OAM_CMDB_USER``), ``--cmdb-password``
(``$OAM_CMDB_PASSWORD``, never printed, not even in ``repr``) and ``--cmdb-root``
(``$OAM_CMDB_ROOT``) reach the command as one :class:`CmdbConnection` argument named ``cmdb``.
Values left unset are ``None``, so each command fills in its own defaults (settings files).
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("table", "json")
CMDB_ENV = {"zk": "OAM_CMDB_ZK", "user": "OAM_CMDB_USER", "password": "OAM_CMDB_PASSWORD", "root": "OAM_CMDB_ROOT"}


@dataclasses.dataclass(frozen=True)
class CmdbConnection:
    """Where the CMDB is and who to be there; ``None`` for what the user did not say."""

    zk: str | None = None
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    root: str | None = None

    def or_defaults(self, zk: str | None = None, user: str | None = None, password: str | None = None,
                    root: str | None = None) -> CmdbConnection:
        """Fill what is unset from these defaults (a settings file's); a default password goes
        only with the default user, never with a user named on the command line."""
        chosen_user = self.user or user or None
        chosen_password = self.password
        if chosen_password is None and chosen_user is not None and chosen_user == (user or None):
            chosen_password = password
        return CmdbConnection(zk=self.zk or zk or None, user=chosen_user, password=chosen_password,
                              root=self.root or root or None)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``cmdb.Cmdb(servers, ...)``: user, password and root if set."""
        kwargs: dict[str, Any] = {"user": self.user, "password": self.password}
        if self.root:
            kwargs["root"] = self.root
        return kwargs


_CMDB_PARAMS = ("zk", "cmdb_user", "cmdb_password", "cmdb_root")


def cmdb_options(func: F) -> F:
    """Add ``--zk``, ``--cmdb-user``, ``--cmdb-password`` and ``--cmdb-root``; the command gets
    them as one keyword argument ``cmdb`` (a :class:`CmdbConnection`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        zk, user, password, root = (kwargs.pop(name) for name in _CMDB_PARAMS)
        kwargs["cmdb"] = CmdbConnection(zk=zk or None, user=user or None, password=password, root=root or None)
        return func(*args, **kwargs)

    options = [
        click.option("--zk", "zk", envvar=CMDB_ENV["zk"], metavar="HOST:PORT[,HOST:PORT...]",
                     help=f"The CMDB's ZooKeeper servers, comma-separated [env {CMDB_ENV['zk']}]."),
        click.option("--cmdb-user", "cmdb_user", envvar=CMDB_ENV["user"], metavar="NAME",
                     help=f"CMDB (ZooKeeper digest) account [env {CMDB_ENV['user']}]."),
        click.option("--cmdb-password", "cmdb_password", envvar=CMDB_ENV["password"], metavar="TEXT",
                     help=f"Its password; prefer the env var {CMDB_ENV['password']} (never printed)."),
        click.option("--cmdb-root", "cmdb_root", envvar=CMDB_ENV["root"], metavar="ZNODE",
                     help=f"Znode under which the CMDB lives [default: /oam/cmdb; env {CMDB_ENV['root']}]."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def output_option(func: F) -> F:
    """Add ``-o/--output table|json`` (default table); the command gets it as ``output``."""
    return click.option("-o", "--output", "output", type=click.Choice(OUTPUT_FORMATS), default="table",
                        show_default=True,
                        help="table: aligned text for people; json: the same data as JSON for scripts.")(func)


def log_format_option(func: F) -> F:
    """Add ``--log-format ecs|plain`` (``$OAM_LOG_FORMAT``, default ecs) for a daemon's stderr log."""
    from .daemon_logging import LOG_FORMAT_VARIABLE, LOG_FORMATS

    return click.option("--log-format", type=click.Choice(LOG_FORMATS, case_sensitive=False), default="ecs",
                        envvar=LOG_FORMAT_VARIABLE, show_default=True,
                        help="ecs: one ECS JSON line per record (what a host agent ships); "
                             "plain: text for a terminal.")(func)
