"""What commands print: plain tables, JSON, and errors as one ``Error:`` line.

Tables go through tabulate as plain text (no box drawing, no colours), so they stay greppable
and diffable; ``-o json`` (see :func:`foundation.cli_options.output_option`) prints the same
data as plain JSON objects and lists instead::

    from foundation.output import echo_json, table

    if output == "json":
        echo_json([{"host": h.name, "state": h.state} for h in hosts])
    else:
        click.echo(table([[h.name, h.state] for h in hosts], headers=["HOST", "STATE"]))
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import click
from tabulate import tabulate

DEBUG_ENV = "OAM_DEBUG"


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str] | None = None,
          align: Sequence[str] | None = None) -> str:
    """Rows as columns two spaces apart, sized to their contents; trailing blanks trimmed.

    With ``headers``: a header line, then a line of dashes under each column. ``align`` gives
    "left" or "right" per column (default: all left; cells are never reparsed as numbers).
    ``None`` cells print empty. No rows and no headers: an empty string.
    """
    rows = [list(row) for row in rows]
    if not rows and not headers:
        return ""
    text = tabulate(rows, headers=list(headers) if headers else (), tablefmt="simple" if headers else "plain",
                    disable_numparse=True, colalign=tuple(align) if align else None, missingval="")
    return "\n".join(line.rstrip() for line in text.splitlines())


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)  # paths, datetimes, enums: their text


def to_json(data: Any) -> str:
    """``data`` as indented JSON; dataclasses become objects, anything else unknown its ``str``."""
    return json.dumps(data, indent=2, default=_plain)


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (see :func:`to_json`)."""
    click.echo(to_json(data))


def one_line(text: object) -> str:
    """``text`` on one line: its lines joined with "; ", blank ones dropped."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


class CommandError(click.ClickException):
    """A failure the user can act on; click prints it as ``Error: <one line>`` and exits 1."""

    def __init__(self, message: object) -> None:
        super().__init__(one_line(message) or "failed")


@contextlib.contextmanager
def reported(*errors: type[BaseException]) -> Iterator[None]:
    """Turn ``errors`` raised inside the block into :class:`CommandError` (``Error: <message>``)."""
    try:
        yield
    except errors as exc:
        raise CommandError(str(exc) or type(exc).__name__) from None


def error_line(exc: BaseException) -> str:
    """The ``Error:`` line for an exception: its message's first line (see :func:`run`)."""
    message = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    if isinstance(exc, OSError) and exc.strerror:
        target = f"{exc.filename}: " if exc.filename else ""
        message = f"{target}{exc.strerror}"
    return f"Error: {message}" if message else f"Error: {type(exc).__name__}"


def run(command: click.Command, known: tuple[type[BaseException], ...] = (OSError,),
        packages: Collection[str] = ()) -> None:
    """Run a click command as a program: every error ends in one ``Error:`` line, never a traceback.

    click's own errors print as click prints them (``Error: ...``, usage errors with a hint);
    ``known`` exceptions, and exceptions defined in one of ``packages`` (top-level package
    names), print their message: any lines after the first (a log's tail) come first, as
    context, and the ``Error:`` line with the first one is always the last; any other exception prints
    ``Error: internal error: <type>: <message>`` unless ``$OAM_DEBUG`` is set, which shows the
    traceback. Exit codes: click's, 130 for Ctrl-C, 1 for errors.
    """
    try:
        command.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:
        if isinstance(exc, known) or type(exc).__module__.partition(".")[0] in packages:
            context = str(exc).strip().partition("\n")[2]
            line = error_line(exc)
            if context.strip() and not isinstance(exc, OSError):
                click.echo(context.rstrip(), err=True)
                line = f"{line[:-1]} (above)" if line.endswith(":") else line
            click.echo(line, err=True)
            raise SystemExit(1) from None
        if os.environ.get(DEBUG_ENV):  # a bug: still one line, the traceback on request
            raise
        click.echo(f"Error: internal error: {type(exc).__name__}: {one_line(exc)} "
                   f"(set {DEBUG_ENV}=1 for the traceback)", err=True)
        raise SystemExit(1) from None
