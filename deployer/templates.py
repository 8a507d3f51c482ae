"""Configuration templates a release carries (``config/*.j2``), rendered per host with Jinja2.

A template's variables are CMDB keys: ``{{ db_url }}`` reads ``<environment>/<service>/config/db_url``,
unless the host has ``<environment>/<service>/hosts/<host>/config/db_url`` (see
:mod:`deployer.config_values`). Values are JSON, so ``{{ db.port }}`` and ``{{ names | join(",") }}``
work; ``{{ x | default(5) }}`` or ``{% if x is defined %}`` make a key optional. ``oam`` is the
deployer's own: ``oam.host``, ``oam.address``, ``oam.service``, ``oam.environment``, ``oam.version``
and ``oam.env`` (the host's env). Rendering is strict (``StrictUndefined``): a key that a template
needs and the CMDB lacks is a :class:`TemplateProblem` naming the key and the template.

Usage::

    templates = Templates.from_artifact(Path("shop-1.4.0.tar.gz"))   # {"settings.json.j2": source}
    rendered = templates.render(values_of_web1, facts)                # RenderedConfig
    rendered.files      # {"settings.json": text}
    rendered.keys       # {"production/shop/config/db_url": 3}: the key versions it used
"""
from __future__ import annotations

import difflib
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import DictLoader, StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment

from .config import HostSpec
from .config_values import ConfigValue

CONFIG_DIR = "config"
SUFFIX = ".j2"
FACTS = "oam"  # the deployer's own variables
MAX_RENDERED_BYTES = 64 * 1024  # per host: the files travel inside one shell command line


class TemplateProblem(ValueError):
    """A template that cannot be rendered for a host; the message is one line naming the key or the template."""


@dataclass(frozen=True)
class RenderedConfig:
    """One host's rendered files (``config/<name>`` without ``.j2``) and the CMDB key versions they used."""

    files: dict[str, str] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)


def _environment(sources: Mapping[str, str]) -> SandboxedEnvironment:
    return SandboxedEnvironment(loader=DictLoader(dict(sources)), undefined=StrictUndefined,
                                keep_trailing_newline=True, autoescape=False)


@dataclass(frozen=True)
class Templates:
    """The ``config/*.j2`` templates of one release, by file name."""

    sources: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.sources)

    @classmethod
    def from_artifact(cls, path: Path) -> Templates:
        """The templates in a release tarball (members ``config/*.j2``)."""
        sources = {}
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = PurePosixPath(member.name)
                if member.isfile() and len(name.parts) == 2 and name.parts[0] == CONFIG_DIR \
                        and name.name.endswith(SUFFIX):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        sources[name.name] = _text(handle.read(), name)
        return cls(sources)

    def names(self) -> dict[str, list[str]]:
        """Each variable the templates read (``oam`` aside), with the templates that read it."""
        env = _environment(self.sources)
        used: dict[str, list[str]] = {}
        for template, source in sorted(self.sources.items()):
            try:
                found = meta.find_undeclared_variables(env.parse(source))
            except TemplateSyntaxError as exc:
                raise TemplateProblem(f"{CONFIG_DIR}/{template} line {exc.lineno}: {exc.message}") from None
            for name in found - {FACTS}:
                used.setdefault(name, []).append(template)
        return used

    def render(self, values: Mapping[str, ConfigValue], facts: Mapping[str, Any]) -> RenderedConfig:
        """Render every template with ``values`` (by variable name) and ``facts`` as ``oam``."""
        used = self.names()
        env = _environment(self.sources)
        context = {name: values[name].value for name in used if name in values}
        context[FACTS] = dict(facts)
        files = {}
        for template in sorted(self.sources):
            try:
                files[template[:-len(SUFFIX)]] = env.get_template(template).render(context)
            except UndefinedError as exc:
                raise TemplateProblem(_undefined(template, str(exc), used, values, facts)) from None
            except TemplateError as exc:
                line = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
                raise TemplateProblem(f"{CONFIG_DIR}/{template}{line} for host {facts.get('host')}: "
                                      f"{exc.message or type(exc).__name__}") from None
        size = sum(len(text.encode()) for text in files.values())
        if size > MAX_RENDERED_BYTES:
            raise TemplateProblem(f"the rendered configuration for host {facts.get('host')} is {size} bytes; "
                                  f"at most {MAX_RENDERED_BYTES} are supported")
        keys = {values[name].key: values[name].version for name in sorted(used) if name in values}
        return RenderedConfig(files, keys)


class Renderer:
    """Renders templates for the hosts of one service in one environment; the values are read once, when
    first needed (``load``: host name -> variable name -> :class:`ConfigValue`)."""

    def __init__(self, environment: str, service: str,
                 load: Callable[[], Mapping[str, Mapping[str, ConfigValue]]]) -> None:
        self.environment = environment
        self.service = service
        self._load = load
        self._values: Mapping[str, Mapping[str, ConfigValue]] | None = None

    def facts(self, host: HostSpec, version: str) -> dict[str, Any]:
        return {"host": host.name, "address": host.address, "service": self.service,
                "environment": self.environment, "version": version, "env": dict(host.env)}

    def render(self, templates: Templates, host: HostSpec, version: str) -> RenderedConfig:
        if self._values is None:
            self._values = self._load()
        return templates.render(self._values.get(host.name, {}), self.facts(host, version))


def _undefined(template: str, message: str, used: Mapping[str, list[str]], values: Mapping[str, ConfigValue],
               facts: Mapping[str, Any]) -> str:
    """The one line for an undefined variable: the missing CMDB key when it is one."""
    where = f"{CONFIG_DIR}/{template}"
    missing = [name for name in used if name not in values and f"'{name}' is undefined" in message]
    host = facts.get("host")
    if missing:
        key = f"{facts.get('environment')}/{facts.get('service')}/config/{missing[0]}"
        override = f"{facts.get('environment')}/{facts.get('service')}/hosts/{host}/config/{missing[0]}"
        return f"{where}: CMDB key {key} is missing (and host {host} has no override {override})"
    return f"{where} for host {host}: {message}"


def _text(data: bytes, name: PurePosixPath) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise TemplateProblem(f"{name} is not UTF-8 text") from None


def unified_diff(host: str, current: Mapping[str, str], rendered: Mapping[str, str]) -> str:
    """The diff from a host's current ``config/`` files to the rendered ones (only files that change)."""
    parts = []
    for name in sorted(rendered):
        old, new = current.get(name), rendered[name]
        if old == new:
            continue
        for line in difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True),
                                         f"{host}:{CONFIG_DIR}/{name}" if old is not None else "/dev/null",
                                         f"{host}:{CONFIG_DIR}/{name} (rendered)"):
            parts.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(parts)
