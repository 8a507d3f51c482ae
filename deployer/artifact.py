"""The release artifact: a gzipped tarball built once per deploy, identified by its SHA-256."""
from __future__ import annotations

import gzip
import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path


class ArtifactError(RuntimeError):
    """The release cannot be built or read; the message names the path."""


@dataclass(frozen=True)
class Artifact:
    path: Path
    version: str
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_artifact(source: Path, version: str, out_dir: Path) -> Artifact:
    """Pack the directory ``source`` into ``out_dir/<version>.tar.gz`` (paths relative to ``source``)."""
    source = Path(source)
    if not source.is_dir():
        raise ArtifactError(f"release source {source} is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{version}.tar.gz"
    try:
        # gzip's header carries a time unless told otherwise: mtime=0 makes the same source the same bytes
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed, \
                tarfile.open(fileobj=packed, mode="w") as tar:
            for entry in sorted(source.rglob("*")):
                tar.add(entry, arcname=str(entry.relative_to(source)), recursive=False, filter=_normalise)
    except OSError as exc:
        raise ArtifactError(f"cannot pack {source}: {exc}") from exc
    return open_artifact(path, version)


def open_artifact(path: Path, version: str) -> Artifact:
    """A tarball built elsewhere; it must be a readable gzip tar with no path escaping its root."""
    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = member.name
                if name.startswith("/") or ".." in Path(name).parts:
                    raise ArtifactError(f"{path}: member {name!r} would be unpacked outside the release")
                if member.issym() or member.islnk():
                    if member.linkname.startswith("/") or ".." in Path(member.linkname).parts:
                        raise ArtifactError(f"{path}: link {name!r} points outside the release")
    except (OSError, tarfile.TarError) as exc:
        raise ArtifactError(f"{path} is not a readable .tar.gz: {exc}") from exc
    return Artifact(path=path, version=version, sha256=sha256_file(path), size=path.stat().st_size)
