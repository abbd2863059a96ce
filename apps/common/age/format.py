"""The age v1 format's shared pieces: constants, errors, HKDF, strict base64, header stanzas."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    pass


VERSION_LINE = b"age-encryption.org/v1"
X25519_LABEL = b"age-encryption.org/v1/X25519"
RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"
SUFFIX = ".age"

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
FILE_KEY_SIZE = 16
NONCE_SIZE = 16
# Real headers are a few hundred bytes per recipient; a cap keeps a hostile file from
# making the reader buffer without end while it looks for the header's end.
MAX_HEADER_SIZE = 1 << 20
_COLUMNS = 64


class AgeError(Exception):
    """Bad key text, or a file that is not valid age, not for these keys, corrupt or truncated."""


class Readable(Protocol):
    """What the decryptor reads from: a binary file, a socket's file, any stream with read(n)."""

    def read(self, size: int = -1, /) -> bytes: ...


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


_B64_RE = re.compile(r"[A-Za-z0-9+/]*")


def _b64decode(text: str, what: str) -> bytes:
    """Strict unpadded base64, as age requires (no padding, no stray bits)."""
    if not _B64_RE.fullmatch(text) or len(text) % 4 == 1:
        raise AgeError(f"malformed header: {what} is not valid base64")
    data = base64.b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(data) != text:
        raise AgeError(f"malformed header: {what} is not canonical base64")
    return data


class _Stanza:
    def __init__(self, type_: str, args: list[str], body: bytes) -> None:
        self.type = type_
        self.args = args
        self.body = body

    def encode(self) -> bytes:
        lines = ["-> " + " ".join([self.type, *self.args])]
        text = _b64encode(self.body)
        lines += [text[i : i + _COLUMNS] for i in range(0, len(text), _COLUMNS)]
        if len(text) % _COLUMNS == 0:
            lines.append("")  # a body ends with a line shorter than 64 columns
        return ("\n".join(lines) + "\n").encode()
