"""The release layout's shell steps, run with the real ``sh`` on a temporary directory."""
from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from deployer import layout
from deployer.layout import Layout, Release


def sh(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)


def upload(root: Layout, version: str, tmp_path: Path) -> str:
    source = tmp_path / f"src-{version}"
    source.mkdir()
    (source / "VERSION").write_text(version)
    target = Path(root.upload(version))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        tar.add(source / "VERSION", arcname="VERSION")
    return hashlib.sha256(target.read_bytes()).hexdigest()


def test_stage_switch_and_list(tmp_path):
    root = Layout(str(tmp_path / "deploy root"))  # a space must not break the quoting
    out = sh(layout.inspect(root, ["logs", "data"]))
    assert out.returncode == 0, out.stderr
    assert layout.parse_inspect(out.stdout) == (None, [])
    for number, version in enumerate(["v1", "v2"]):
        sha = upload(root, version, tmp_path)
        step = " && ".join([layout.verify(root.upload(version), sha),
                            layout.unpack(root, version, sha, f"2026-01-0{number + 1}T00:00:00Z"),
                            layout.link_shared(root, version, ["logs", "data"])])
        assert sh(step).returncode == 0
        assert sh(layout.switch(root, version)).returncode == 0
    current, releases = layout.parse_inspect(sh(layout.inspect(root, ["logs", "data"])).stdout)
    assert current == "v2"
    assert [(r.version, r.deployed_at) for r in releases] == [
        ("v1", "2026-01-01T00:00:00Z"), ("v2", "2026-01-02T00:00:00Z")]
    assert os.readlink(root.current) == "releases/v2"
    assert Path(root.current, "VERSION").read_text() == "v2"
    assert os.readlink(Path(root.release("v2"), "logs")) == f"{root.shared}/logs"
    assert not Path(root.upload("v2")).exists()
    assert sh(layout.switch(root, "v1")).returncode == 0
    assert Path(root.current, "VERSION").read_text() == "v1"


def test_checksum_mismatch_fails_and_unpacks_nothing(tmp_path):
    root = Layout(str(tmp_path / "app"))
    sh(layout.prepare(root, []))
    upload(root, "v1", tmp_path)
    wrong = "0" * 64
    out = sh(layout.verify(root.upload("v1"), wrong) + " && " + layout.unpack(root, "v1", wrong, "t"))
    assert out.returncode == 3
    assert "checksum mismatch after upload" in out.stderr and "!= 000000000000" in out.stderr
    assert not Path(root.release("v1")).exists()


def test_switch_replaces_the_link_by_rename(tmp_path):
    root = Layout(str(tmp_path))
    Path(root.release("v1")).mkdir(parents=True)
    Path(root.release("v2")).mkdir(parents=True)
    sh(layout.switch(root, "v1"))
    inode_before = os.lstat(root.current).st_ino
    out = sh(layout.switch(root, "v2"))
    assert out.returncode == 0, out.stderr
    assert os.readlink(root.current) == "releases/v2"
    assert os.lstat(root.current).st_ino != inode_before  # a new link renamed over the old one
    assert not Path(tmp_path, ".current.tmp").exists()


def releases(*names: str) -> list[Release]:
    return [Release(name, f"2026-01-{i + 1:02d}") for i, name in enumerate(names)]


def test_previous_release_is_the_one_unpacked_before_current():
    assert layout.previous_release(releases("v1", "v2", "v3"), "v3") == "v2"
    assert layout.previous_release(releases("v1", "v2", "v3"), "v2") == "v1"
    assert layout.previous_release(releases("v1"), "v1") is None
    assert layout.previous_release(releases("v1"), None) is None


@pytest.mark.parametrize("kept, keep, current, stale", [
    (("v1", "v2", "v3", "v4"), 2, "v4", ["v1", "v2"]),
    (("v1", "v2", "v3"), 3, "v3", []),
    (("v1", "v2", "v3", "v4"), 2, "v1", ["v2"]),  # the current release is never removed
])
def test_stale_releases(kept, keep, current, stale):
    assert layout.stale_releases(releases(*kept), keep, [current]) == stale


def test_parse_releases_orders_by_unpack_time_and_tolerates_junk():
    output = ('v10\t{"deployed_at": "2026-01-03", "sha256": "ab", "version": "v10"}\n'
              'v9\t{"deployed_at": "2026-01-02", "sha256": "cd", "version": "v9"}\n'
              'old\t\nbroken\t{not json\n')
    assert [r.version for r in layout.parse_releases(output)] == ["broken", "old", "v9", "v10"]


def test_shell_quotes_everything(tmp_path):
    out = sh(layout.shell('echo "$GREETING" > out', str(tmp_path), {"GREETING": "it's $HOME; rm -rf /"}))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out").read_text() == "it's $HOME; rm -rf /\n"


def test_read_only_inspect_creates_nothing(tmp_path):
    root = Layout(str(tmp_path / "never-deployed"))
    out = sh(layout.inspect(root, ["logs"], prepare_layout=False))
    assert out.returncode == 0, out.stderr
    assert layout.parse_inspect(out.stdout) == (None, [])
    assert not Path(root.root).exists()
