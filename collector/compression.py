"""Request bodies by ``Content-Encoding``, each decompressed to at most a given size.

``gzip`` (several members too) and ``deflate`` always; ``br`` when the ``brotli`` package
(1.2 or later, for its bounded output) is installed, ``zstd`` when ``zstandard`` is. A body
that would decompress to more than the limit is refused with 413 as soon as the limit is
passed, so a small compressed body cannot make the collector hold gigabytes.
"""
from __future__ import annotations

import io
import zlib
from collections.abc import Callable

try:  # sentry-sdk compresses with brotli when it is installed
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None
try:
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None

GZIP_MAGIC = b"\x1f\x8b"


class BodyError(ValueError):
    """The body as a whole is unusable; ``status`` is the HTTP answer (400, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _too_large(limit: int) -> BodyError:
    return BodyError(413, f"body decompresses to more than {limit} bytes (the collector's max_decompressed_bytes)")


def _zlib(body: bytes, limit: int, wbits: int, name: str) -> bytes:
    """gzip (``wbits`` 31, member after member) or deflate (47: zlib-wrapped, or gzip as some senders label it)."""
    out = bytearray()
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits=wbits)
            out += inflater.decompress(data, limit + 1 - len(out))
            if len(out) > limit or inflater.unconsumed_tail:
                raise _too_large(limit)
            if not inflater.eof:
                raise BodyError(400, f"{name} body is truncated")
            data = inflater.unused_data
            if wbits != 31 or not data.startswith(GZIP_MAGIC):
                break  # trailing garbage after the last member is ignored, as gzip(1) does
    except zlib.error as exc:
        raise BodyError(400, f"{name} body is corrupt: {exc}") from exc
    return bytes(out)


def _gzip(body: bytes, limit: int) -> bytes:
    return _zlib(body, limit, 31, "gzip")


def _deflate(body: bytes, limit: int) -> bytes:
    return _zlib(body, limit, 47, "deflate")


def _brotli(body: bytes, limit: int) -> bytes:
    decompressor = brotli.Decompressor()
    try:
        out = bytearray(decompressor.process(body, output_buffer_limit=limit + 1))
        while len(out) <= limit and not decompressor.is_finished() and not decompressor.can_accept_more_data():
            out += decompressor.process(b"", output_buffer_limit=limit + 1 - len(out))
    except brotli.error as exc:
        raise BodyError(400, f"br body is corrupt: {exc}") from exc
    if len(out) > limit:
        raise _too_large(limit)
    if not decompressor.is_finished():
        raise BodyError(400, "br body is truncated")
    return bytes(out)


def _zstd(body: bytes, limit: int) -> bytes:
    """Read frame after frame to at most ``limit`` bytes, then check the frames are whole.

    The bounded reader does not tell a truncated frame from a short one, so a second pass
    (over output now known to be within the limit) checks that every frame ends.
    """
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True) as reader:
            out = bytearray()
            while len(out) <= limit:
                chunk = reader.read(limit + 1 - len(out))
                if not chunk:
                    break
                out += chunk
        if len(out) > limit:
            raise _too_large(limit)
        data = body
        while data:
            frame = zstandard.ZstdDecompressor().decompressobj()
            frame.decompress(data)
            if not frame.eof:
                raise BodyError(400, "zstd body is truncated")
            data = frame.unused_data
    except zstandard.ZstdError as exc:
        raise BodyError(400, f"zstd body is corrupt: {exc}") from exc
    return bytes(out)


DECOMPRESSORS: dict[str, Callable[[bytes, int], bytes]] = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate}
if brotli is not None and hasattr(brotli.Decompressor, "can_accept_more_data"):  # bounded output: brotli 1.2+
    DECOMPRESSORS["br"] = _brotli
if zstandard is not None:
    DECOMPRESSORS["zstd"] = _zstd


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` as sent with ``Content-Encoding: encoding`` (None or ``identity``: as it is), at most ``limit`` bytes.

    Raises :class:`BodyError`: 413 past ``limit``, 415 for an encoding it cannot read, 400 for
    a corrupt or truncated body.
    """
    name = (encoding or "identity").strip().lower()
    if name in ("identity", ""):
        if len(body) > limit:
            raise BodyError(413, f"body is larger than {limit} bytes (the collector's max_decompressed_bytes)")
        return body
    decompressor = DECOMPRESSORS.get(name)
    if decompressor is None:
        raise BodyError(415, f"unsupported Content-Encoding {name!r} (use {', '.join(DECOMPRESSORS)} or none)")
    return decompressor(body, limit)
