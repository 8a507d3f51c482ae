"""A release's ``config/`` directory on a host: read it, write rendered files, put the previous ones back.

Under a release (``releases/<version>/``)::

    config/<name>.j2            a template, as the release ships it
    config/<name>               the file rendered from it for this host
    .oam-config-previous/       the files a configuration-only deploy replaced (kept until the next one)

Every function returns one command line for ``sh``; file contents travel base64-encoded.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from shlex import quote

from .templates import CONFIG_DIR, SUFFIX

PREVIOUS_DIR = ".oam-config-previous"
COMPLETE = ".complete"  # in PREVIOUS_DIR: every replaced file is kept there


def read_config(release: str) -> str:
    """Prints one line per file in ``release/config``: its name, a tab, its content in base64 (nothing if absent)."""
    return (f"(cd {quote(release + '/' + CONFIG_DIR)} 2>/dev/null || exit 0; for f in *; do [ -f \"$f\" ] || continue; "
            f"printf '%s\\t' \"$f\"; base64 -w0 < \"$f\"; echo; done)")


def parse_config(output: str) -> tuple[dict[str, str], dict[str, str]]:
    """(templates, files) from :func:`read_config`'s output, each by file name."""
    templates, files = {}, {}
    for line in output.splitlines():
        name, tab, encoded = line.partition("\t")
        if not tab:
            continue
        try:
            text = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue  # not text: nothing a template renders
        (templates if name.endswith(SUFFIX) else files)[name] = text
    return templates, files


def write_config(release: str, files: Mapping[str, str], keep_previous: bool = False) -> str:
    """Write the rendered ``files`` into ``release/config`` (each replaced in one rename); with
    ``keep_previous``, copy the files they replace to ``release/.oam-config-previous`` first."""
    config, previous = f"{release}/{CONFIG_DIR}", f"{release}/{PREVIOUS_DIR}"
    parts = [f"mkdir -p {quote(config)}"]
    if keep_previous:
        parts.append(f"rm -rf {quote(previous)} && mkdir -p {quote(previous)}")
        parts += [f"{{ [ ! -f {quote(config + '/' + name)} ] || cp -p {quote(config + '/' + name)} "
                  f"{quote(previous + '/' + name)}; }}" for name in sorted(files)]
        parts.append(f": > {quote(previous + '/' + COMPLETE)}")  # from here on, files may be replaced
    for name, text in sorted(files.items()):
        encoded = base64.b64encode(text.encode()).decode()
        tmp = f"{config}/.{name}.oam-tmp"
        parts.append(f"printf '%s' {encoded} | base64 -d > {quote(tmp)} && mv -f {quote(tmp)} {quote(config + '/' + name)}")
    return " && ".join(parts)


def restore_config(release: str, names: Sequence[str]) -> str:
    """Put back the files :func:`write_config` kept (a file that did not exist before is removed);
    nothing if it failed before it had kept them all (then it replaced none)."""
    config, previous = f"{release}/{CONFIG_DIR}", f"{release}/{PREVIOUS_DIR}"
    parts = [f"if [ -f {quote(previous + '/' + name)} ]; then cp -p {quote(previous + '/' + name)} "
             f"{quote(config + '/' + name)}; else rm -f {quote(config + '/' + name)}; fi" for name in sorted(names)]
    return f"if [ -f {quote(previous + '/' + COMPLETE)} ]; then {' && '.join(parts or ['true'])}; fi"
