"""Streaming compression of dumps: none, gzip or zstd.

The engines dump uncompressed (e.g. `pg_dump -Z0`) and the pipeline
compresses once, here. zstd is the default: level 3 with two worker threads
inside libzstd, which run outside the GIL, so compression overlaps reading
the dump, hashing and writing. gzip (zlib level 6, gzip container) stays for
compatibility with tools that only know gzip.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

import zstandard

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

NONE = "none"
GZIP = "gzip"
ZSTD = "zstd"

SUFFIXES = {NONE: "", GZIP: ".gz", ZSTD: ".zst"}

ZSTD_LEVEL = 3
ZSTD_THREADS = 2
# libzstd's default job for level 3 is 8 MiB per worker (≈45 MB of buffers in
# flight); 1 MiB jobs keep that near 10 MB for a ratio within ~1 % of it.
ZSTD_JOB_SIZE = 1 << 20
GZIP_LEVEL = 6


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class Readable(Protocol):
    """What the decompressors read from: any binary stream with read(size)."""

    def read(self, size: int = -1, /) -> bytes: ...


class _Decoder(Protocol):
    def readinto(self, buffer: WriteableBuffer, /) -> int: ...


class CompressionError(Exception):
    """A compressed stream could not be decoded."""


def normalize(kind: str | None) -> str:
    kind = (kind or NONE).lower()
    if kind not in SUFFIXES:
        raise ValueError(f"Unknown compression {kind!r}")
    return kind


def suffix(kind: str | None) -> str:
    """Return the file name suffix for a compression: '.zst', '.gz' or ''."""
    return SUFFIXES[normalize(kind)]


class _Identity:
    def compress(self, data: bytes) -> bytes:
        return data

    def decompress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _Zstd:
    def __init__(self) -> None:
        params = zstandard.ZstdCompressionParameters.from_level(
            ZSTD_LEVEL, threads=ZSTD_THREADS, job_size=ZSTD_JOB_SIZE, write_checksum=1
        )
        cctx = zstandard.ZstdCompressor(compression_params=params)
        self._obj = cctx.compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        return self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


class _Gzip:
    def __init__(self) -> None:
        self._obj = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


def compressor(kind: str | None) -> Compressor:
    """Return a fresh streaming compressor: compress(chunk) many times, then flush() once."""
    kind = normalize(kind)
    if kind == ZSTD:
        return _Zstd()
    if kind == GZIP:
        return _Gzip()
    return _Identity()


class DecompressingReader(io.RawIOBase):
    """A readable binary stream of the decompressed bytes of `source`.

    Reads `source` in chunks as the consumer asks for data, so memory stays
    bounded whatever the file size or compression ratio. Corrupt or truncated
    input raises CompressionError.
    """

    def __init__(self, source: Readable, kind: str | None, chunk_size: int = 1 << 20) -> None:
        super().__init__()
        kind = normalize(kind)
        self._source = source
        self._inner: _Decoder | None = None  # None: the bytes pass through unchanged
        # Both decoders only ever call read() on their source while reading forward.
        fileobj = cast(BinaryIO, source)
        if kind == ZSTD:
            self._inner = zstandard.ZstdDecompressor().stream_reader(
                fileobj, read_size=chunk_size, read_across_frames=True, closefd=False
            )
        elif kind == GZIP:
            self._inner = gzip.GzipFile(fileobj=fileobj, mode="rb")
        self._kind = kind

    def readable(self) -> bool:
        return True

    def readinto(self, b: WriteableBuffer) -> int:
        if self._inner is None:
            view = memoryview(b).cast("B")
            data = self._source.read(len(view))
            view[: len(data)] = data
            return len(data)
        try:
            return self._inner.readinto(b)
        except (zstandard.ZstdError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
            raise CompressionError(f"{self._kind} data is corrupt or truncated: {exc}") from exc

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        buf = bytearray(size)
        n = self.readinto(buf)
        return bytes(buf[:n])


def open_decompressed(source: Readable, kind: str | None) -> BinaryIO:
    """Wrap a readable stream of stored bytes into a stream of the original dump."""
    if normalize(kind) == NONE:
        return cast(BinaryIO, source)  # read() is all the callers use
    return cast(BinaryIO, DecompressingReader(source, kind))
