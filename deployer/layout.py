"""Where a release lives on a host, and the shell commands that stage, switch and clean releases.

Layout under a host's deploy root (as Capistrano does it)::

    releases/<version>/          an unpacked release, with .oam-release (version, checksum, time)
    releases/<version>/<dir> ->  shared/<dir>   for each shared dir (logs, data)
    shared/<dir>/                kept across releases
    current -> releases/<version>   switched atomically: ln -s to a temporary name, mv -T over
    .uploads/                    artifacts while they are checked and unpacked

Every function returns one command line for ``sh``; paths and values are quoted.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from shlex import quote

MARKER = ".oam-release"
LIST_SEPARATOR = "\t"


@dataclass(frozen=True)
class Layout:
    root: str

    @property
    def releases(self) -> str:
        return f"{self.root}/releases"

    @property
    def shared(self) -> str:
        return f"{self.root}/shared"

    @property
    def current(self) -> str:
        return f"{self.root}/current"

    @property
    def uploads(self) -> str:
        return f"{self.root}/.uploads"

    def release(self, version: str) -> str:
        return f"{self.releases}/{version}"

    def upload(self, version: str) -> str:
        return f"{self.uploads}/{version}.tar.gz"


def prepare(layout: Layout, shared_dirs: Sequence[str]) -> str:
    dirs = [layout.releases, layout.uploads] + [f"{layout.shared}/{name}" for name in shared_dirs]
    return "mkdir -p " + " ".join(quote(d) for d in dirs) + f" && test -w {quote(layout.root)}"


def verify(path: str, sha256: str) -> str:
    """Fails (exit 3, the two checksums on stderr) unless ``path`` has the SHA-256 ``sha256``."""
    return (f"printf '%s  %s\\n' {quote(sha256)} {quote(path)} | sha256sum -c --status || "
            f"{{ echo \"checksum mismatch after upload: $(sha256sum {quote(path)} | cut -c1-12)\" "
            f"\"!= {sha256[:12]}\" >&2; "
            f"exit 3; }}")


def unpack(layout: Layout, version: str, sha256: str, deployed_at: str) -> str:
    """Unpack into a temporary directory, write the marker, then rename it into place."""
    final = layout.release(version)
    tmp = f"{final}.incoming"
    marker = json.dumps({"version": version, "sha256": sha256, "deployed_at": deployed_at}, sort_keys=True)
    return (f"rm -rf {quote(tmp)} && mkdir -p {quote(tmp)} && tar -xzf {quote(layout.upload(version))} -C {quote(tmp)}"
            f" && printf '%s\\n' {quote(marker)} > {quote(tmp + '/' + MARKER)}"
            f" && rm -rf {quote(final)} && mv -T {quote(tmp)} {quote(final)} && rm -f {quote(layout.upload(version))}")


def link_shared(layout: Layout, version: str, shared_dirs: Sequence[str]) -> str:
    release = layout.release(version)
    parts = [f"rm -rf {quote(release + '/' + name)} && ln -s {quote(layout.shared + '/' + name)} "
             f"{quote(release + '/' + name)}" for name in shared_dirs]
    return " && ".join(parts) or "true"


def switch(layout: Layout, version: str) -> str:
    """Point ``current`` at the release in one rename(2): readers see the old or the new, never none."""
    tmp = f"{layout.root}/.current.tmp"
    return f"ln -sfn {quote('releases/' + version)} {quote(tmp)} && mv -T {quote(tmp)} {quote(layout.current)}"


def read_current(layout: Layout) -> str:
    """Prints the version ``current`` points at (an empty line if none)."""
    return f"if [ -L {quote(layout.current)} ]; then basename \"$(readlink {quote(layout.current)})\"; else echo; fi"


def inspect(layout: Layout, shared_dirs: Sequence[str], prepare_layout: bool = True) -> str:
    """(Prepare the layout, then) print the current version on the first line and the releases after it."""
    read = f"{read_current(layout)} && {list_releases(layout)}"
    return f"{prepare(layout, shared_dirs)} && {read}" if prepare_layout else read


def parse_inspect(output: str) -> tuple[str | None, list[Release]]:
    first, _, rest = output.partition("\n")
    return first.strip() or None, parse_releases(rest)


def list_releases(layout: Layout) -> str:
    """One line per release: directory name, a tab, its marker (JSON, one line) or nothing.

    Shell builtins only: no process per release (every process on a busy host costs CPU).
    """
    return (f"(cd {quote(layout.releases)} 2>/dev/null || exit 0; for d in *; do [ -d \"$d\" ] || continue; "
            f"case \"$d\" in *.incoming) continue;; esac; m=; "
            f"if [ -f \"$d/{MARKER}\" ]; then {{ IFS= read -r m || :; }} < \"$d/{MARKER}\"; fi; "
            f"printf '%s\\t%s\\n' \"$d\" \"$m\"; done)")


@dataclass(frozen=True)
class Release:
    version: str
    deployed_at: str
    sha256: str = ""


def parse_releases(output: str) -> list[Release]:
    """Releases oldest first (by the time they were unpacked; unmarked ones first, by name)."""
    found = []
    for line in output.splitlines():
        if not line.strip():
            continue
        name, _, marker = line.partition(LIST_SEPARATOR)
        try:
            meta = json.loads(marker) if marker.strip() else {}
        except ValueError:
            meta = {}
        found.append(Release(name, str(meta.get("deployed_at", "")), str(meta.get("sha256", ""))))
    return sorted(found, key=lambda r: (r.deployed_at, r.version))


def previous_release(releases: Sequence[Release], current: str | None) -> str | None:
    """The newest release unpacked before the current one (None if there is none)."""
    versions = [r.version for r in releases]
    if current not in versions:
        return None
    index = versions.index(current)
    return versions[index - 1] if index > 0 else None


def stale_releases(releases: Sequence[Release], keep: int, protect: Sequence[str]) -> list[str]:
    """Releases beyond the newest ``keep``, never one in ``protect`` (the current one)."""
    old = [r.version for r in releases[: max(0, len(releases) - keep)]]
    return [version for version in old if version not in protect]


def remove_releases(layout: Layout, versions: Sequence[str]) -> str:
    return "rm -rf " + " ".join(quote(layout.release(v)) for v in versions) if versions else "true"


def shell(command: str, cwd: str, env: Mapping[str, str]) -> str:
    """Run ``command`` with ``sh -c`` in ``cwd`` with ``env`` set (all quoted)."""
    assignments = " ".join(f"{key}={quote(value)}" for key, value in env.items())
    return f"cd {quote(cwd)} && env {assignments} sh -c {quote(command)}"
