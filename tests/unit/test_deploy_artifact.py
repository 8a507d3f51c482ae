"""The release artifact: packed once, its checksum known, unsafe tarballs refused."""
from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from deployer.artifact import ArtifactError, build_artifact, open_artifact


def test_build_packs_the_directory(tmp_path):
    source = tmp_path / "src"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "run").write_text("#!/bin/sh\n")
    (source / "VERSION").write_text("1.0\n")
    artifact = build_artifact(source, "1.0", tmp_path / "out")
    assert artifact.path.name == "1.0.tar.gz"
    assert artifact.sha256 == hashlib.sha256(artifact.path.read_bytes()).hexdigest()
    with tarfile.open(artifact.path) as tar:
        assert sorted(tar.getnames()) == ["VERSION", "bin", "bin/run"]
        assert {m.uid for m in tar.getmembers()} == {0}


def test_the_same_source_packs_to_the_same_checksum(tmp_path):
    """A retried deploy of one version must match what the first attempt left on the hosts."""
    import time

    source = tmp_path / "src"
    source.mkdir()
    (source / "VERSION").write_text("1.0\n")
    first = build_artifact(source, "1.0", tmp_path / "one")
    time.sleep(1.1)  # gzip headers count whole seconds
    assert build_artifact(source, "1.0", tmp_path / "two").sha256 == first.sha256


def test_missing_source_is_named(tmp_path):
    with pytest.raises(ArtifactError, match="nope is not a directory"):
        build_artifact(tmp_path / "nope", "1.0", tmp_path)


def test_not_a_tarball(tmp_path):
    bad = tmp_path / "x.tar.gz"
    bad.write_text("hello")
    with pytest.raises(ArtifactError, match="not a readable .tar.gz"):
        open_artifact(bad, "1")


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd"])
def test_members_outside_the_release_are_refused(tmp_path, name):
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(ArtifactError, match="outside the release"):
        open_artifact(path, "1")
