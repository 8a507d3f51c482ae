"""The calling service, told to the called one in the W3C ``tracestate`` (vendor key ``oam``).

A caller puts ``oam=p:<its exit span id>;s:<its service.name>`` first in the ``tracestate`` of
each outgoing call or queued job (:func:`with_origin`); the callee's transaction records the
``tracestate`` it received, and the collector reads the entry back (:func:`read_origin`) as
``service.origin.name`` (ECS), so calls between services can be counted with one aggregation.

The entry counts only when its span id is the callee's ``parent.id``: a service in between that
does not speak ``oam`` passes the entry on unchanged, and its callees are then not credited to
the service before it.
"""
from __future__ import annotations

import re

KEY = "oam"
MAX_ENTRIES = 32  # W3C: at most 32 list members
_NAME = re.compile(r"[\x21-\x2b\x2d-\x3a\x3c\x3e-\x7e]{1,200}")  # a tracestate value without ',', '=', ';'
_SPAN_ID = re.compile(r"[0-9a-f]{16}")


def valid_service(name: str | None) -> bool:
    """Whether ``name`` can travel in the entry (printable ASCII without space, ``,``, ``=`` or ``;``)."""
    return bool(name) and _NAME.fullmatch(name) is not None  # type: ignore[arg-type]


def _members(header: str | None) -> list[str]:
    """The list members of a ``tracestate`` header other than ours, in order."""
    return [m.strip() for m in (header or "").split(",")
            if m.strip() and m.split("=", 1)[0].strip() != KEY]


def with_origin(header: str | None, span_id: str, service: str) -> str:
    """``header`` with our entry for ``service`` calling from ``span_id`` first (an old one replaced)."""
    return ",".join([f"{KEY}=p:{span_id};s:{service}", *_members(header)[:MAX_ENTRIES - 1]])


def read_origin(header: str, parent_id: str | None) -> tuple[str | None, str]:
    """``(calling service or None, the header without our entry)``; the service only when the entry's
    span id is ``parent_id``."""
    service = None
    for member in header.split(","):
        key, _, value = member.strip().partition("=")
        if key.strip() != KEY:
            continue
        span, _, name = value.partition(";s:")
        if span.startswith("p:") and _SPAN_ID.fullmatch(span[2:]) and span[2:] == parent_id and valid_service(name):
            service = name
    return service, ",".join(_members(header))
