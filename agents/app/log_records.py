"""Log records made with less work while the lookups the agent never uses are off.

With the caller's file not looked up (see :func:`agents.app.logs.skip_unused_record_fields`)
every record has the pathname
``"(unknown file)"``, yet ``LogRecord`` still derives a file name and a module from it (five
calls into ``posixpath``) and sets a dozen fields that are the same on every record: half of
a record's cost, paid for each INFO line a service writes. :class:`LeanLogRecord` copies those
fields from a record made the standard way and sets the others as ``LogRecord`` does: the
same fields with the same values (a unit test compares them). When a switch is back on
(threads, processes, asyncio tasks), the pathname is a real one, or the logging module is of
a version whose records differ, it is made the standard way.
"""
from __future__ import annotations

import collections.abc
import logging
from collections.abc import Callable
from time import time
from typing import Any

UNKNOWN_FILE = "(unknown file)"  # the pathname logging gives when it does not look for the caller
UNKNOWN_FUNCTION = "(unknown function)"  # and the function name
_PER_RECORD = frozenset({"name", "msg", "args", "levelname", "levelno", "pathname", "lineno", "funcName",
                         "exc_info", "stack_info", "created", "msecs", "relativeCreated", "taskName"})
_SHARED = ("filename", "module", "exc_text", "thread", "threadName", "processName", "process")
_shared: tuple[Any, ...] | None = None  # the values of _SHARED, while the lean records are installed
_start_time = 0.0  # when logging was loaded, in time() seconds: created - relativeCreated / 1000 of a record
_standard_init = logging.LogRecord.__init__
_level_name = logging.getLevelName
_LOGS_TASKS = hasattr(logging, "logAsyncioTasks")  # Python 3.12+: taskName


class LeanLogRecord(logging.LogRecord):
    """A ``LogRecord`` whose shared fields are copied, not derived (see the module's notes)."""

    # LogRecord.__init__ is called when the short way does not apply
    def __init__(self, name: str, level: int, pathname: str, lineno: int, msg: object, args: Any,
                 exc_info: Any, func: str | None = None, sinfo: str | None = None, **kwargs: Any) -> None:
        shared = _shared
        if shared is None or pathname != UNKNOWN_FILE or kwargs or logging.logThreads or logging.logProcesses \
                or logging.logMultiprocessing or _LOGS_TASKS and logging.logAsyncioTasks:  # type: ignore[attr-defined]
            _standard_init(self, name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs)
            return
        created = time()
        if args and len(args) == 1 and isinstance(args[0], collections.abc.Mapping) and args[0]:
            args = args[0]  # as LogRecord: a lone mapping is the format's named arguments
        self.name = name
        self.msg = msg
        self.args = args
        self.levelname = _level_name(level)
        self.levelno = level
        self.pathname = pathname
        self.filename, self.module, self.exc_text, self.thread, self.threadName, self.processName, \
            self.process = shared
        if _LOGS_TASKS:
            self.taskName = None
        self.exc_info = exc_info
        self.stack_info = sinfo
        self.lineno = lineno
        self.funcName = func
        self.created = created
        self.msecs = int((created - int(created)) * 1000) + 0.0
        self.relativeCreated = (created - _start_time) * 1000


def install_lean_records() -> Callable[[], None]:
    """Make :class:`LeanLogRecord` the record factory (unless another factory is set); returns the undo.

    Call it with the lookups already off: the shared fields are taken from a record made now.
    A logging module whose records have fields this does not know keeps its own records.
    """
    global _shared, _start_time
    switched_on = logging.logThreads or logging.logProcesses or logging.logMultiprocessing \
        or getattr(logging, "logAsyncioTasks", False)
    if logging.getLogRecordFactory() is not logging.LogRecord or switched_on:
        return lambda: None
    fields = vars(logging.LogRecord("", logging.INFO, UNKNOWN_FILE, 0, "", (), None))
    if set(fields) != _PER_RECORD.union(_SHARED) - ({"taskName"} if not _LOGS_TASKS else set()):
        return lambda: None
    _shared = tuple(fields[key] for key in _SHARED)
    _start_time = fields["created"] - fields["relativeCreated"] / 1000
    logging.setLogRecordFactory(LeanLogRecord)

    def undo() -> None:
        global _shared
        if logging.getLogRecordFactory() is LeanLogRecord:
            logging.setLogRecordFactory(logging.LogRecord)
            _shared = None

    return undo
