"""The pinned Elasticsearch distribution: fetch it from Maven Central, verify it, unpack it.

Run as a script by the set-up (``python3 backing_services/distribution.py install``) before the
virtualenv exists, so it uses the standard library only. The download goes through Maven itself
(``mvn dependency:get`` with strict checksums), which caches it in the local Maven repository;
the SHA-1 the registry publishes beside the zip is checked again here before unpacking.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ES_VERSION = "8.19.21"
ES_GROUP = "org.elasticsearch.distribution.integ-test-zip"
ES_ARTIFACT = "elasticsearch"
ES_USER = "oam-es"  # Elasticsearch refuses to run as root; this account runs it instead.
INSTALL_ROOT = Path("/opt/oam")
MARKER = ".oam-installed"


def maven_repository() -> Path:
    return Path(os.environ.get("OAM_MAVEN_REPO", Path.home() / ".m2" / "repository"))


def cached_zip() -> Path:
    group_path = Path(*ES_GROUP.split("."))
    name = f"{ES_ARTIFACT}-{ES_VERSION}.zip"
    return maven_repository() / group_path / ES_ARTIFACT / ES_VERSION / name


def es_home() -> Path:
    """Where the pinned distribution is unpacked ($OAM_ES_HOME overrides)."""
    if os.environ.get("OAM_ES_HOME"):
        return Path(os.environ["OAM_ES_HOME"])
    root = INSTALL_ROOT if os.geteuid() == 0 else Path.home() / ".local" / "share" / "oam"
    return root / f"elasticsearch-{ES_VERSION}"


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def published_sha1(zip_path: Path) -> str:
    """The checksum the registry published beside the zip (Maven stores it as ``.sha1``)."""
    text = zip_path.with_name(zip_path.name + ".sha1").read_text().split()
    if not text:
        raise ValueError(f"empty checksum file beside {zip_path}")
    return text[0].lower()


def fetch() -> tuple[Path, bool]:
    """Make sure the zip is in the local Maven repository; returns (path, downloaded?)."""
    zip_path = cached_zip()
    if zip_path.exists() and zip_path.with_name(zip_path.name + ".sha1").exists():
        return zip_path, False
    if not shutil.which("mvn"):
        raise RuntimeError("mvn is not installed; scripts/setup installs it (Debian package 'maven')")
    artifact = f"{ES_GROUP}:{ES_ARTIFACT}:{ES_VERSION}:zip"
    print(f"downloading Elasticsearch {ES_VERSION} ({artifact}) through Maven ...", flush=True)
    cmd = ["mvn", "--batch-mode", "--strict-checksums", "--no-transfer-progress",
           "dependency:get", f"-Dartifact={artifact}", "-Dtransitive=false",
           f"-Dmaven.repo.local={maven_repository()}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not zip_path.exists():
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise RuntimeError(f"Maven could not fetch {artifact}:\n{tail}")
    return zip_path, True


def verify(zip_path: Path) -> str:
    expected, actual = published_sha1(zip_path), sha1_of(zip_path)
    if expected != actual:
        raise RuntimeError(f"checksum mismatch for {zip_path}: registry says {expected}, file is {actual}")
    return actual


def unpack(zip_path: Path, checksum: str, home: Path) -> bool:
    """Unpack into ``home`` unless that exact zip is already there; returns True if unpacked."""
    marker = home / MARKER
    if marker.exists() and marker.read_text().strip() == checksum:
        return False
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=home.parent))
    try:
        # unzip keeps the executable bits of bin/; Python's zipfile would drop them.
        subprocess.run(["unzip", "-q", str(zip_path), "-d", str(staging)], check=True)
        (top,) = list(staging.iterdir())
        (top / MARKER).write_text(checksum + "\n")
        if home.exists():
            shutil.rmtree(home)
        os.replace(top, home)
        os.chmod(home, 0o755)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def install() -> bool:
    """Fetch, verify and unpack the pinned distribution. Returns True if anything changed."""
    zip_path, downloaded = fetch()
    checksum = verify(zip_path)
    home = es_home()
    unpacked = unpack(zip_path, checksum, home)
    state = "downloaded" if downloaded else "cached"
    action = "unpacked into" if unpacked else "already unpacked in"
    print(f"elasticsearch {ES_VERSION}: zip {state}, sha1 {checksum} verified, {action} {home}")
    return downloaded or unpacked


def main(argv: list[str]) -> int:
    if argv[1:] == ["install"]:
        try:
            changed = install()
        except (RuntimeError, OSError, ValueError, subprocess.CalledProcessError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 10 if changed else 0
    if argv[1:] == ["home"]:
        print(es_home())
        return 0
    print("usage: distribution.py install|home   (install exits 0 if nothing changed, 10 if it did)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
