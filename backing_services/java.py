"""Locate a Java runtime new enough for Elasticsearch 8 and ZooKeeper (17 or later)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

MIN_JAVA = 17


def java_version(java: Path) -> int:
    """The feature version of a ``java`` binary (17 for '17.0.15'), or 0 if it will not run."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_home() -> Path:
    """JAVA_HOME for the services: $OAM_JAVA_HOME, $JAVA_HOME, else the ``java`` on PATH."""
    for var in ("OAM_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var) and java_version(Path(os.environ[var]) / "bin" / "java") >= MIN_JAVA:
            return Path(os.environ[var])
    found = shutil.which("java")
    if found and java_version(Path(found)) >= MIN_JAVA:
        return Path(found).resolve().parent.parent
    raise FileNotFoundError(
        f"no Java {MIN_JAVA}+ runtime found (set OAM_JAVA_HOME, or run scripts/setup to install one)"
    )
