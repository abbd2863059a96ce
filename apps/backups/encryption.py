"""Encryption of backups with age, chained after compression: dump → zstd → age → sha256 → writers.

Framework-free. The pipeline asks `stored_codec(compression, recipients)` for the one
object it feeds the dump through; with recipients that object compresses, then encrypts
to them (age v1, X25519), so the stored bytes are `<name>.dump.zst.age` and anyone with
the key file restores with `age -d -i key.txt x.dump.zst.age | zstd -d | pg_restore …`.
Restores and downloads read them back with `open_stored`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, cast

from apps.backups import compression as codecs
from apps.common import age
from apps.common.age import AgeError

__all__ = ["AgeError", "EncryptingCompressor", "open_stored", "stored_codec", "stored_suffix"]


class EncryptingCompressor:
    """A Compressor whose output is the age encryption of the inner compressor's output."""

    def __init__(self, inner: codecs.Compressor, encryptor: age.Encryptor) -> None:
        self._inner = inner
        self._encryptor = encryptor

    @property
    def recipients(self) -> list[str]:
        return self._encryptor.recipients

    def compress(self, data: bytes) -> bytes:
        return self._encryptor.update(self._inner.compress(data))

    def flush(self) -> bytes:
        return self._encryptor.update(self._inner.flush()) + self._encryptor.finalize()


def stored_codec(compression: str | None, recipients: Sequence[str] | None) -> codecs.Compressor:
    """Return the streaming codec for stored bytes: compression, then age when `recipients` is not None.

    `recipients=None` means "not encrypted". Any other value must hold at least one valid
    `age1…` recipient, or AgeError is raised — so a database with a key never falls back
    to plaintext (an empty list is an error, not "no encryption").
    """
    inner = codecs.compressor(compression)
    if recipients is None:
        return inner
    return EncryptingCompressor(inner, age.Encryptor(list(recipients)))


def stored_suffix(compression: str | None, encrypted: bool) -> str:
    """The file name suffix after the engine's extension: '.zst', '.zst.age', '.gz', '.age', ''."""
    return codecs.suffix(compression) + (age.SUFFIX if encrypted else "")


def open_stored(
    source: age.Readable, compression: str | None, identities: Sequence[str] | None = None
) -> BinaryIO:
    """Return a stream of the original dump from stored bytes: decrypt (when identities are given), decompress.

    With identities the header is checked now: a wrong key raises AgeError
    ("… no identity matches …") before any byte is returned, so a restore can
    fail before it touches its target. Corrupt or truncated data raises AgeError
    (encryption) or CompressionError (compression) while reading.
    """
    if identities is not None:
        source = age.open_decrypted(source, list(identities))
    # The decompressors only call read(n), like the decryptor.
    return codecs.open_decompressed(cast(BinaryIO, source), compression)
