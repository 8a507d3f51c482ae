"""Lean log records: the same fields and values as the standard ones, and out of the way when they cannot be."""
from __future__ import annotations

import logging

import pytest

from agents.app.log_records import LeanLogRecord
from agents.app.logs import skip_unused_record_fields

TIMING = {"created", "msecs", "relativeCreated"}


@pytest.fixture
def lean_records():
    undo = skip_unused_record_fields(keep_origin=False)
    try:
        yield
    finally:
        undo()


def _record(*args):
    return logging.getLogger("orders").makeRecord("orders", logging.INFO, "(unknown file)", 0, *args)


@pytest.mark.parametrize("message, args", [("order %s served from %s", ("o-1", "cache")),
                                           ("%(a)s and %(b)s", ({"a": 1, "b": 2},)),
                                           ("plain", ())])
def test_a_lean_record_has_the_fields_and_values_of_a_standard_one(lean_records, message, args):
    lean = _record(message, args, None)
    standard = logging.LogRecord("orders", logging.INFO, "(unknown file)", 0, message, args, None)
    assert type(lean) is LeanLogRecord
    assert set(vars(lean)) == set(vars(standard))
    assert {k: v for k, v in vars(lean).items() if k not in TIMING} == \
        {k: v for k, v in vars(standard).items() if k not in TIMING}
    assert lean.getMessage() == standard.getMessage()
    assert abs(lean.created - standard.created) < 1 and 0 <= lean.msecs < 1000
    # relativeCreated is counted from when logging was loaded, as on a standard record
    assert abs((lean.relativeCreated - standard.relativeCreated) - (lean.created - standard.created) * 1000) < 0.01
    # formatters read the record's __dict__: every field a format may name is there
    formatter = logging.Formatter("%(levelname)s %(name)s %(module)s %(filename)s %(threadName)s %(process)s "
                                  "%(lineno)d %(message)s")
    assert formatter.format(lean) == formatter.format(standard)


def test_a_switch_turned_back_on_gets_standard_records(lean_records):
    logging.logThreads = True
    try:
        record = _record("x", (), None)
        assert record.threadName is not None and record.thread is not None
    finally:
        logging.logThreads = False


def test_undo_restores_the_standard_factory():
    undo = skip_unused_record_fields(keep_origin=False)
    assert logging.getLogRecordFactory() is LeanLogRecord
    undo()
    assert logging.getLogRecordFactory() is logging.LogRecord
    record = logging.getLogger("orders").makeRecord("orders", logging.INFO, "/srv/app.py", 3, "x", (), None)
    assert type(record) is logging.LogRecord and record.module == "app"


def test_another_factory_is_left_in_place():
    def factory(*args, **kwargs):
        return logging.LogRecord(*args, **kwargs)

    logging.setLogRecordFactory(factory)
    try:
        undo = skip_unused_record_fields(keep_origin=False)
        assert logging.getLogRecordFactory() is factory
        undo()
        assert logging.getLogRecordFactory() is factory
    finally:
        logging.setLogRecordFactory(logging.LogRecord)


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_caller_is_not_looked_up_unless_a_stack_is_asked_for():
    logger = logging.getLogger("orders.caller")
    kept = _Kept()
    logger.addHandler(kept)
    logger.setLevel(logging.INFO)
    try:
        undo = skip_unused_record_fields(keep_origin=False)
        try:
            logger.info("quick")
            logger.info("with stack", stack_info=True)
        finally:
            undo()
        logger.info("after")
    finally:
        logger.removeHandler(kept)
    quick, with_stack, after = kept.records
    assert (quick.pathname, quick.lineno, quick.funcName) == ("(unknown file)", 0, "(unknown function)")
    assert with_stack.pathname == __file__ and with_stack.funcName == "test_the_caller_is_not_looked_up_unless_a_stack_is_asked_for"
    assert with_stack.stack_info.startswith("Stack (most recent call last):")
    assert after.pathname == __file__ and after.lineno > 0
