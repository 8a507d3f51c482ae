"""One way to check settings: TOML files, CMDB JSON values and live configs, with one-line errors.

Usage::

    class Collector(SettingsModel):
        urls: list[Url] = ["http://127.0.0.1:4318"]
        interval: PositiveFloat = 10.0

    class AgentFile(SettingsModel):
        collector: Collector = Collector()

    config = load_toml(AgentFile, Path("/etc/oam/agent.toml"))      # a TOML file
    live = validate(Collector, cmdb_value, "production/oam-agent/config")  # a JSON value
    write_toml(path, {"collector": {"urls": ["http://c:4318"]}})     # TOML out, through tomli-w

Models are strict (no "10" for 10, no true for 1) and refuse unknown keys; what TOML and JSON
naturally give is still taken: an integer where a number is expected, a string for a path.
Every problem is raised as :class:`SettingsError`, one line naming the source, the table, the
key, what was expected and what was given::

    agent.toml: [collector] urls: expected a list of URLs, got "x"

A type's expectation comes from ``Expected("...")`` in its ``Annotated`` metadata, else from the
type itself. A validator of a model raises ``invalid("...")`` to say what it expected.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import tomli_w
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError

__all__ = ["Expected", "NonEmptyStr", "PathStr", "Port", "PositiveFloat", "PositiveInt", "Regex", "SettingsError",
           "SettingsModel", "Url", "invalid", "load_toml", "read_toml", "toml_text", "validate", "validate_keys",
           "write_toml"]

M = TypeVar("M", bound=BaseModel)


class SettingsError(ValueError):
    """A settings file or value is unreadable or does not fit its model; the message is one line."""


class SettingsModel(BaseModel):
    """Base of every settings model: strict types, unknown keys refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


@dataclass(frozen=True)
class Expected:
    """``Annotated`` metadata: what a value of this type is, in words (``"a URL"``, plural ``"URLs"``)."""

    text: str
    plural: str = ""

    def many(self) -> str:
        return self.plural or re.sub(r"^(an?|one) ", "", self.text) + "s"


_UNSHOWN = object()


def invalid(expected: str, *key: str | int, got: Any = _UNSHOWN) -> PydanticCustomError:
    """The error a validator raises: what it expected. A model validator also names the key's path
    below the model and, if it is not the model itself, the value that was ``got``."""
    return PydanticCustomError("invalid", "expected {expected}", {"expected": expected, "key": key, "got": got})


def _url(value: str) -> str:
    scheme, _, rest = value.partition("://")
    if scheme not in ("http", "https") or not rest:
        raise invalid("a URL")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error:
        raise invalid("a regular expression") from None
    return value


PathStr = Annotated[Path, Strict(False), Expected("a path")]
Url = Annotated[str, AfterValidator(_url), Expected("a URL", "URLs")]
Regex = Annotated[str, AfterValidator(_regex), Expected("a regular expression")]
NonEmptyStr = Annotated[str, Field(min_length=1), Expected("a non-empty string")]
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Port = Annotated[int, Field(ge=0, le=65535)]

_NAMES: dict[Any, Expected] = {
    int: Expected("an integer"), float: Expected("a number"), str: Expected("a string"),
    bool: Expected("true or false", "trues or falses"), Path: Expected("a path"),
}


def validate(model: type[M], data: Any, source: str, context: dict[str, Any] | None = None) -> M:
    """``data`` (a parsed JSON or TOML value) as ``model``; :class:`SettingsError` names the problem.
    ``context`` reaches the model's validators (pydantic's validation context)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise SettingsError(describe(model, exc, source)) from None


def read_toml(path: Path, source: str | None = None) -> dict[str, Any]:
    """The TOML file at ``path``, parsed but not yet checked (for layering several sources)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{source or path.name}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{source or path.name}: not valid TOML: {exc}") from None


def load_toml(model: type[M], path: Path, source: str | None = None) -> M:
    """The TOML file at ``path`` as ``model``; errors name ``source`` (default: the file's name)."""
    return validate(model, read_toml(path, source), source or Path(path).name)


def validate_keys(model: type[M], data: Any, source: str) -> tuple[dict[str, Any], list[str]]:
    """The top-level keys of ``data`` that fit ``model`` (each checked alone), and one line for each
    that does not: for a live config whose good keys apply while a bad one is refused."""
    if not isinstance(data, Mapping):
        return {}, [describe(model, _error_of(model, data), source)]
    good: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in data.items():
        try:
            good[key] = getattr(model.model_validate({key: value}), key)
        except ValidationError as exc:
            problems.append(describe(model, exc, source))
    return good, problems


def _error_of(model: type[BaseModel], data: Any) -> ValidationError:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a validation error")


def toml_text(data: Mapping[str, Any] | BaseModel) -> str:
    """``data`` as a TOML document; ``None`` values (no TOML form) are left out, paths become strings."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", exclude_none=True)
    return tomli_w.dumps(_plain(data))


def write_toml(path: Path, data: Mapping[str, Any] | BaseModel, mode: int = 0o644) -> None:
    """Write ``data`` as TOML to ``path`` with ``mode`` (e.g. 0o600 for one holding secrets).

    Atomic: the text goes to a temporary file beside ``path`` (made with ``mode`` from the start),
    flushed to disk, then renamed over ``path``, so a crash never leaves a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = toml_text(data).encode()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value) if isinstance(value, Path) else value


# -- one line from a ValidationError ------------------------------------------------------------
def describe(model: type[BaseModel], exc: ValidationError, source: str) -> str:
    """``source: [table] key: expected X, got Y`` for the first error (and how many more there are)."""
    errors = exc.errors(include_url=False)
    line = _line(model, errors[0], source)
    more = len(errors) - 1
    return line + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def _line(model: type[BaseModel], error: Mapping[str, Any], source: str) -> str:
    ctx = error.get("ctx") or {}
    is_key = error["loc"][-1:] == ("[key]",)
    loc = [part for part in error["loc"] if part != "[key]"]
    if error["type"] == "invalid" and ctx.get("key"):
        loc.extend(ctx["key"])
    keys = [i for i, part in enumerate(loc) if isinstance(part, str)]
    cut = keys[-1] if keys else len(loc)
    table, key = _path(loc[:cut]), _path(loc[cut:])
    where = f"{source}: " + (f"[{table}] " if table else "") + (f"{key}: " if key else "")
    if error["type"] == "extra_forbidden":
        known = _known(model, loc[:-1])
        return where + "unknown key" + (f" (known: {', '.join(known)})" if known else "")
    got = "nothing" if error["type"] == "missing" else _show(error["input"])
    if error["type"] == "invalid":
        if ctx.get("key"):  # from a model validator, whose input is the whole model
            got = "" if ctx.get("got", _UNSHOWN) is _UNSHOWN else _show(ctx["got"])
        return f"{where}expected {ctx['expected']}" + (f", got {got}" if got else "")
    expected = _expected(model, loc, is_key, error)
    if not source.endswith(".toml"):  # a JSON value: its tables are objects
        expected = re.sub(r"\b(a )?table(s?)\b", lambda m: ("an " if m[1] else "") + "object" + m[2], expected)
    return f"{where}expected {expected}, got {got}"


def _path(parts: Sequence[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(annotation: Any, metadata: Sequence[Any] = ()) -> tuple[Any, list[Any]]:
    """The bare type and its metadata, through ``Annotated`` and ``X | None``."""
    metadata = list(metadata)
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            metadata = [*extra, *metadata]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation, metadata
            annotation = options[0]
        else:
            return annotation, metadata


def _at(model: type[BaseModel], loc: Sequence[Any], is_key: bool = False) -> tuple[Any, list[Any]] | None:
    """The type (and metadata) at ``loc`` inside ``model`` (of the dict key there, if ``is_key``)."""
    annotation, metadata = _unwrap(model)
    for index, part in enumerate(loc):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next((f for name, f in annotation.model_fields.items() if part in (name, f.alias)), None)
            if field is None:
                return None
            annotation, metadata = _unwrap(field.annotation, field.metadata)
            continue
        origin, args = get_origin(annotation), get_args(annotation)
        if origin in (list, tuple, Sequence, set, frozenset) and args:
            annotation, metadata = _unwrap(args[0])
        elif origin in (dict, Mapping) and len(args) == 2:
            annotation, metadata = _unwrap(args[0 if is_key and index == len(loc) - 1 else 1])
        else:
            return None
    return annotation, metadata


def _known(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    found = _at(model, loc)
    if found is None or not (isinstance(found[0], type) and issubclass(found[0], BaseModel)):
        return []
    return sorted(field.alias or name for name, field in found[0].model_fields.items())


def _expected(model: type[BaseModel], loc: Sequence[Any], is_key: bool, error: Mapping[str, Any]) -> str:
    """What the type at ``loc`` says it is; a bare type's name, with pydantic's words for a bound."""
    found = _at(model, loc, is_key)
    marker = next((item for item in found[1] if isinstance(item, Expected)), None) if found else None
    if marker is not None:
        return marker.text
    words = _words(*found) if found else None
    kind = error["type"]
    if words and (kind in ("missing", "literal_error") or kind.endswith(("_type", "_parsing"))):
        return words
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("Input should be "):
        return " ".join(filter(None, (words, message.removeprefix("Input should be "))))
    return message[:1].lower() + message[1:]


def _words(annotation: Any, metadata: Sequence[Any] = (), many: bool = False) -> str | None:
    marker = next((item for item in metadata if isinstance(item, Expected)), None) or _NAMES.get(annotation)
    if marker is not None:
        return marker.many() if many else marker.text
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "tables" if many else "a table"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, Sequence, set, frozenset) and args:
        items = _words(*_unwrap(args[0]), many=True)
        return ("lists" if many else "a list") + (f" of {items}" if items else "")
    if origin in (dict, Mapping) and len(args) == 2:
        values = _words(*_unwrap(args[1]), many=True)
        return ("tables" if many else "a table") + (f" of {values}" if values else "")
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in args)
    return None
