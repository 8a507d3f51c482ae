"""One ZooKeeper connection for the CMDB, and the helpers every recipe on it shares.

:class:`Connection` holds the kazoo client, the tree's :class:`~cmdb.paths.Layout`, the
credentials and the acting user; the recipes (:mod:`cmdb.store`, :mod:`cmdb.schema`,
:mod:`cmdb.hosts`, :mod:`cmdb.lock`, :mod:`cmdb.watch`) take one and use its ``retry``,
``translated`` and ``ensure_root``. :class:`cmdb.client.Cmdb` is a connection with the recipes on it.
"""
from __future__ import annotations

import contextlib
import getpass
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    KazooException,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry, RetryFailedError

from . import acl
from .errors import CmdbError, PermissionDenied, Unreachable
from .events import ChangeSpool
from .node_watch import NodeWatch
from .paths import DEFAULT_ROOT, Layout

# kazoo logs connection retries itself; our callers get one clear error instead. Where the
# application configured no logging, this keeps Python's last-resort handler from printing them.
logging.getLogger("kazoo").addHandler(logging.NullHandler())

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_SESSION_TIMEOUT = 10.0
DEFAULT_HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Credentials:
    """A ZooKeeper digest account; the password never appears in ``repr``."""

    user: str
    password: str = field(repr=False)

    @property
    def auth_data(self) -> list[tuple[str, str]]:
        return [("digest", f"{self.user}:{self.password}")]


def connect(hosts: str, credentials: Credentials | None = None, *, timeout: float = DEFAULT_CONNECT_TIMEOUT,
            session_timeout: float = DEFAULT_SESSION_TIMEOUT) -> KazooClient:
    """A started kazoo client, or :class:`Unreachable` if no server answers within ``timeout``."""
    client = KazooClient(
        hosts=hosts, timeout=session_timeout,
        auth_data=credentials.auth_data if credentials else None,
        # kazoo retries its own reconnects and commands (backoff with jitter): not foundation.waiting's job.
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
        command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0, deadline=max(session_timeout, 10.0)),
    )
    try:
        client.start(timeout=timeout)
    except (KazooTimeoutError, KazooException) as exc:
        client.stop()
        client.close()
        raise Unreachable(f"ZooKeeper unreachable at {hosts} within {timeout:g}s") from exc
    except Exception:  # a bad connection string (ValueError) must not leave a thread behind
        client.stop()
        client.close()
        raise
    return client


class Connection:
    """A connected CMDB tree: the kazoo client, the layout under ``root``, who acts, and the recipes' helpers."""

    def __init__(self, hosts: str, *, user: str | None = None, password: str | None = None,
                 root: str = DEFAULT_ROOT, timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 session_timeout: float = DEFAULT_SESSION_TIMEOUT, history_limit: int = DEFAULT_HISTORY_LIMIT,
                 spool: ChangeSpool | None = None, actor: str | None = None) -> None:
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        self.hosts = hosts
        self.layout = Layout(root)
        self.credentials = Credentials(user, password or "") if user else None
        self.actor = actor or (user if user else getpass.getuser())
        self.history_limit = history_limit
        self.session_timeout = session_timeout
        self.spool = spool
        self.client = connect(hosts, self.credentials, timeout=timeout, session_timeout=session_timeout)
        self._root_ready = False
        self._grants: list[acl.Grant] | None = None
        self._policy_watch: NodeWatch | None = None

    def close(self) -> None:
        if self._policy_watch is not None:
            self._policy_watch.stop()
        self.client.stop()
        self.client.close()

    def retry(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run an idempotent ZooKeeper call, retrying through connection loss; one-line errors."""
        with self.translated("read", args[0] if args else self.layout.root):
            return self.client.retry(func, *args, **kwargs)

    @contextlib.contextmanager
    def translated(self, action: str, target: str) -> Iterator[None]:
        """Turn kazoo's errors into the CMDB's one-line errors."""
        try:
            yield
        except NoAuthError as exc:
            raise self.permission_error(action, target) from exc
        except (ConnectionLoss, SessionExpiredError, RetryFailedError, KazooTimeoutError) as exc:
            raise Unreachable(f"ZooKeeper at {self.hosts} did not answer while trying to {action} "
                              f"{self.display(target)} ({type(exc).__name__})") from exc
        except (NoNodeError, NodeExistsError, BadVersionError, NotEmptyError):
            raise  # answers the recipes handle themselves
        except KazooException as exc:
            raise CmdbError(f"ZooKeeper refused to {action} {self.display(target)}: "
                            f"{type(exc).__name__} {exc}".rstrip()) from exc

    def display(self, path: str) -> str:
        """A znode path as users know it: the key for config nodes, else the path."""
        if path.startswith(self.layout.config + "/"):
            return self.layout.key_of(path)
        return path

    def permission_error(self, action: str, target: str) -> PermissionDenied:
        who = f"user {self.credentials.user!r}" if self.credentials else "a client without credentials"
        if self.credentials is None:
            hint = "pass --cmdb-user/--cmdb-password or set OAM_CMDB_USER and OAM_CMDB_PASSWORD"
        elif action != "read" and self._can_read_root():
            hint = "its credentials are read-only here"
        else:
            hint = "its credentials have no access here (wrong password?)"
        return PermissionDenied(f"permission denied: {who} may not {action} {self.display(target)}; {hint}")

    def _can_read_root(self) -> bool:
        try:
            self.client.get(self.layout.root)
            return True
        except KazooException:
            return False

    def ensure_root(self, target: str | None = None) -> None:
        """Before a write (to ``target``): create the tree if it is new (its first writer becomes
        admin) and adopt its ACL policy for the nodes this client creates."""
        if self._root_ready:
            return
        if self.credentials is None:
            raise self.permission_error("write", target or self.layout.root)
        root = self.layout.root
        with self.translated("write", target or root):
            if self.client.retry(self.client.exists, root) is None:
                try:
                    self.client.retry(acl.bootstrap, self.client, self.layout, self.credentials.user,
                                      self.credentials.password)
                except NodeExistsError:  # someone else bootstrapped it meanwhile
                    pass
            try:
                self._adopt(self.client.retry(acl.policy, self.client, self.layout))
            except NoNodeError:  # a tree made before the policy node existed, or by hand
                self._grants = None
                self.client.default_acl = None
            else:  # follow later grants, so the nodes this client creates carry the new policy
                if self._policy_watch is None:  # once, even when an earlier ensure_root failed after this
                    self._policy_watch = NodeWatch(self.client, self.layout.access, self._adopt_policy)
            for path in (self.layout.config, self.layout.history_root, self.layout.schemas,
                         self.layout.known_hosts, self.layout.live_hosts, self.layout.locks):
                if self.client.retry(self.client.exists, path) is None:
                    self.client.retry(self.make_path, path)
        self._root_ready = True

    def acl_for(self, path: str) -> list[acl.ACL] | None:
        """The ACL a node created at ``path`` gets from the tree's policy (None: kazoo's default)."""
        if self._grants is None:
            return None
        return acl.node_acl(self._grants, self.layout.relative(path))

    def make_path(self, path: str) -> None:
        """Create ``path`` and what is missing above it (below the root), each with its own ACL."""
        if self.client.exists(path) is not None:
            return
        parent = path.rsplit("/", 1)[0]
        if parent.startswith(self.layout.root):
            self.make_path(parent)
        try:
            self.client.create(path, acl=self.acl_for(path))
        except NodeExistsError:
            pass

    def _adopt(self, grants: list[acl.Grant]) -> None:
        self._grants = grants
        # Nodes kazoo's recipes create themselves (lock contenders) get the ACL of the locks area.
        self.client.default_acl = acl.node_acl(grants, self.layout.relative(f"{self.layout.locks}/lock"))

    def _adopt_policy(self, data: bytes | None, _stat: object) -> None:
        if data:
            self._adopt(acl.decode_policy(data))
