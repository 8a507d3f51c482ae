"""The Elasticsearch download is checked against the registry's checksum before use."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from backing_services import distribution


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    """A tiny distribution-shaped zip with an executable script (mode bits in the archive)."""
    path = tmp_path / "es.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("elasticsearch-x/bin/elasticsearch")
        info.external_attr = 0o100755 << 16
        archive.writestr(info, "#!/bin/sh\n")
    return path


def test_a_matching_checksum_passes_and_a_wrong_one_is_refused(zip_path):
    good = hashlib.sha1(zip_path.read_bytes()).hexdigest()
    sidecar = zip_path.with_name(zip_path.name + ".sha1")
    sidecar.write_text(good + "  es.zip\n")
    assert distribution.verify(zip_path) == good
    sidecar.write_text("0" * 40 + "\n")
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        distribution.verify(zip_path)


def test_unpacking_keeps_executable_bits_and_happens_once(zip_path, tmp_path):
    home = tmp_path / "opt" / "elasticsearch-x"
    assert distribution.unpack(zip_path, "abc", home) is True
    assert (home / "bin" / "elasticsearch").stat().st_mode & 0o111
    assert distribution.unpack(zip_path, "abc", home) is False
    assert distribution.unpack(zip_path, "def", home) is True  # a different zip replaces it
