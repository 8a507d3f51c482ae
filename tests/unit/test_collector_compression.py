"""Request bodies are decompressed by their Content-Encoding, never past the size limit."""
from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from collector.compression import DECOMPRESSORS, BodyError, decompress

LIMIT = 64 << 10
TEXT = b'{"_kind":"logs","message":"hi"}\n' * 100
COMPRESS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def test_every_encoding_the_test_extra_installs_is_read() -> None:
    assert set(DECOMPRESSORS) == set(COMPRESS)


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_each_encoding_round_trips(encoding: str) -> None:
    assert decompress(COMPRESS[encoding](TEXT), encoding, LIMIT) == TEXT
    assert decompress(COMPRESS[encoding](TEXT), encoding.upper() + " ", LIMIT) == TEXT  # as headers spell it


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_a_bomb_is_refused_with_413_naming_the_limit(encoding: str) -> None:
    bomb = COMPRESS[encoding](b"\0" * (LIMIT * 64))
    assert len(bomb) < LIMIT // 8
    with pytest.raises(BodyError) as refused:
        decompress(bomb, encoding, LIMIT)
    assert refused.value.status == 413 and str(LIMIT) in str(refused.value)
    assert decompress(COMPRESS[encoding](b"\0" * LIMIT), encoding, LIMIT) == b"\0" * LIMIT  # the limit itself is fine


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_corrupt_and_truncated_bodies_are_400(encoding: str) -> None:
    good = COMPRESS[encoding](TEXT)
    for body in (b"not compressed at all", good[: len(good) // 2]):
        with pytest.raises(BodyError) as bad:
            decompress(body, encoding, LIMIT)
        assert bad.value.status == 400 and encoding.replace("x-", "") in str(bad.value), body


def test_gzip_members_are_read_one_after_another_up_to_the_limit() -> None:
    assert decompress(gzip.compress(b"a") + gzip.compress(b"b"), "gzip", LIMIT) == b"ab"
    with pytest.raises(BodyError) as refused:
        decompress(gzip.compress(b"a" * LIMIT) + gzip.compress(b"b"), "gzip", LIMIT)
    assert refused.value.status == 413


def test_deflate_also_reads_gzip_and_identity_is_only_bounded() -> None:
    assert decompress(gzip.compress(TEXT), "deflate", LIMIT) == TEXT
    assert decompress(TEXT, None, LIMIT) == decompress(TEXT, "identity", LIMIT) == TEXT
    with pytest.raises(BodyError) as refused:
        decompress(b"x" * (LIMIT + 1), "", LIMIT)
    assert refused.value.status == 413


def test_an_unknown_encoding_is_415_naming_those_it_reads() -> None:
    with pytest.raises(BodyError) as refused:
        decompress(TEXT, "compress", LIMIT)
    assert refused.value.status == 415 and "'compress'" in str(refused.value) and "gzip" in str(refused.value)
