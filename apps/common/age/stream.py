"""age files: the header (one stanza per recipient, its MAC) and the chunked payload, both ways."""

from __future__ import annotations

import hmac
import io
import os
from hashlib import sha256
from typing import TYPE_CHECKING, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from apps.common.age.format import (
    _COLUMNS,
    CHUNK_SIZE,
    FILE_KEY_SIZE,
    MAX_HEADER_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    VERSION_LINE,
    X25519_LABEL,
    AgeError,
    Readable,
    _b64decode,
    _b64encode,
    _hkdf,
    _Stanza,
)
from apps.common.age.keys import X25519Recipient, _parse_recipient, parse_identities


def _header_mac(file_key: bytes, header_without_mac: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, b"", b"header"), header_without_mac, sha256).digest()


def _wrap(file_key: bytes, recipient: X25519Recipient) -> _Stanza:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.public))
    except ValueError:
        raise AgeError(f"Cannot encrypt to {recipient}: not a usable X25519 public key") from None
    wrap_key = _hkdf(shared, share + recipient.public, X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(bytes(12), file_key, None)
    return _Stanza("X25519", [_b64encode(share)], body)


# --- payload ----------------------------------------------------------------------------------


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Encryptor:
    """Encrypt a stream to age recipients: update(plaintext) → ciphertext so far; finalize() → the rest.

    The header comes out of the first call. A chunk is sealed only once more plaintext
    follows it (the last chunk carries the final flag), so up to 64 KiB is held back.
    Bad recipients raise AgeError here, before any byte is produced.
    """

    def __init__(self, recipients: list[str]) -> None:
        if isinstance(recipients, str):
            recipients = [recipients]
        parsed = [_parse_recipient(r) for r in recipients or []]
        if not parsed:
            raise AgeError("No recipient to encrypt to")
        file_key = os.urandom(FILE_KEY_SIZE)
        header = VERSION_LINE + b"\n" + b"".join(_wrap(file_key, r).encode() for r in parsed) + b"---"
        mac = _header_mac(file_key, header)
        nonce = os.urandom(NONCE_SIZE)
        self._pending = header + b" " + _b64encode(mac).encode() + b"\n" + nonce
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._buffer = bytearray()
        self._counter = 0
        self._finished = False
        self.recipients = [str(r) for r in parsed]

    def update(self, data: bytes) -> bytes:
        """Take more plaintext; return the ciphertext ready so far (maybe b'')."""
        if self._finished:
            raise AgeError("The encryptor was already finalized")
        self._buffer += data
        out = [self._pending] if self._pending else []
        self._pending = b""
        view = memoryview(self._buffer)
        start = 0
        # Keep at least one byte beyond the sealed chunks: the final chunk must be flagged.
        while len(self._buffer) - start > CHUNK_SIZE:
            out.append(self._seal(view[start : start + CHUNK_SIZE], last=False))
            start += CHUNK_SIZE
        view.release()
        if start:
            del self._buffer[:start]
        return b"".join(out)

    def finalize(self) -> bytes:
        """Seal the last chunk (empty only when the whole input was empty); return the rest."""
        if self._finished:
            raise AgeError("The encryptor was already finalized")
        out = self._pending + self._seal(bytes(self._buffer), last=True)
        self._pending = b""
        self._buffer = bytearray()
        self._finished = True
        return out

    # The compressors' names, so an Encryptor can stand where a Compressor does.
    compress = update
    flush = finalize

    def _seal(self, chunk: bytes | memoryview, *, last: bool) -> bytes:
        sealed = self._aead.encrypt(_chunk_nonce(self._counter, last), chunk, None)
        self._counter += 1
        return sealed


def encrypt_bytes(data: bytes, recipients: list[str]) -> bytes:
    """Encrypt a whole (small) byte string; for tests and tiny files."""
    enc = Encryptor(recipients)
    return enc.update(data) + enc.finalize()


class _Source:
    """Buffered reads from a binary file object, with short-read handling."""

    def __init__(self, fh: Readable) -> None:
        self._fh = fh
        self._buf = bytearray()
        self.eof = False

    def fill(self, size: int) -> int:
        """Buffer at least `size` bytes unless the file ends first; return how many are buffered."""
        while len(self._buf) < size and not self.eof:
            data = self._fh.read(max(size - len(self._buf), CHUNK_SIZE + TAG_SIZE))
            if not data:
                self.eof = True
            else:
                self._buf += data
        return len(self._buf)

    def take(self, size: int) -> bytes:
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def readline(self, limit: int) -> bytes:
        """Return one line with its newline; raise AgeError if the header ends or grows past limit."""
        start = 0
        while True:
            pos = self._buf.find(b"\n", start)
            if pos >= 0:
                return self.take(pos + 1)
            start = len(self._buf)
            if start > limit:
                raise AgeError("malformed header: it does not end within 1 MiB (not an age file?)")
            if self.fill(start + 1) == start:
                raise AgeError("truncated header: the file ends inside the age header")


def _read_header(source: _Source) -> tuple[list[_Stanza], bytes, bytes]:
    """Return (stanzas, header bytes covered by the MAC, MAC)."""
    first = source.readline(MAX_HEADER_SIZE)
    if first.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----"):
        raise AgeError("ASCII-armored age files are not supported here; decrypt them with `age -d`")
    if first != VERSION_LINE + b"\n":
        raise AgeError("not an age v1 file (the first line is not 'age-encryption.org/v1')")
    covered = bytearray(first)
    stanzas: list[_Stanza] = []
    line = source.readline(MAX_HEADER_SIZE)
    while True:
        if len(covered) > MAX_HEADER_SIZE:
            raise AgeError("malformed header: larger than 1 MiB")
        if line.startswith(b"--- "):
            covered += b"---"
            mac_text = line[4:-1].decode("ascii", "replace")
            mac = _b64decode(mac_text, "header MAC")
            if len(mac) != 32:
                raise AgeError("malformed header: the MAC has the wrong length")
            return stanzas, bytes(covered), mac
        if not line.startswith(b"-> "):
            raise AgeError("malformed header: expected a '-> ' stanza or the '--- ' MAC line")
        covered += line
        try:
            args = line[3:-1].decode("ascii").split(" ")
        except UnicodeDecodeError:
            raise AgeError("malformed header: a stanza line is not ASCII") from None
        if not args or any(not a or any(ord(c) < 33 or ord(c) > 126 for c in a) for a in args):
            raise AgeError("malformed header: a stanza has an empty or invalid argument")
        body = bytearray()
        while True:
            line = source.readline(MAX_HEADER_SIZE)
            covered += line
            if len(covered) > MAX_HEADER_SIZE:
                raise AgeError("malformed header: larger than 1 MiB")
            text = line[:-1].decode("ascii", "replace")
            if len(text) > _COLUMNS:
                raise AgeError("malformed header: a stanza body line is longer than 64 columns")
            body += _b64decode(text, "a stanza body")
            if len(text) < _COLUMNS:
                break
        stanzas.append(_Stanza(args[0], args[1:], bytes(body)))
        line = source.readline(MAX_HEADER_SIZE)


class DecryptingReader(io.RawIOBase):
    """A readable stream of the plaintext of an age file; every chunk is authenticated before use.

    Made by open_decrypted, which has already read the header, found the file key and
    checked the header MAC. Corrupt, truncated or extended payloads raise AgeError.
    """

    def __init__(self, source: _Source, file_key: bytes) -> None:
        super().__init__()
        self._source = source
        if source.fill(NONCE_SIZE) < NONCE_SIZE:
            raise AgeError("truncated file: it ends right after the header (payload nonce missing)")
        nonce = source.take(NONCE_SIZE)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._counter = 0
        self._plain = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        full = CHUNK_SIZE + TAG_SIZE
        available = self._source.fill(full + 1)  # one byte more tells whether this chunk is the last
        n = self._counter
        if available == 0:
            if n == 0:
                raise AgeError("truncated file: the payload is empty")
            raise AgeError(f"truncated file: it ends after chunk {n} without a final chunk")
        if available < TAG_SIZE:
            raise AgeError(f"truncated file: chunk {n} is shorter than its authentication tag")
        more = available > full
        sealed = self._source.take(min(available, full))
        try:
            plain = self._aead.decrypt(_chunk_nonce(n, not more), sealed, None)
        except InvalidTag:
            plain = None
        if plain is None:
            if not more and len(sealed) == full and self._opens(sealed, n, last=False):
                raise AgeError(f"truncated file: it ends after chunk {n} without a final chunk")
            if more and self._opens(sealed, n, last=True):
                raise AgeError(f"corrupt file: data follows the final chunk {n}")
            raise AgeError(f"corrupt or truncated file: chunk {n} (bytes {n * full}…) fails authentication")
        if not more and not plain and n > 0:
            raise AgeError("corrupt file: the final chunk is empty")
        self._counter += 1
        self._plain, self._pos = plain, 0
        self._done = not more

    def _opens(self, sealed: bytes, n: int, *, last: bool) -> bool:
        try:
            self._aead.decrypt(_chunk_nonce(n, last), sealed, None)
            return True
        except InvalidTag:
            return False

    def readinto(self, b: WriteableBuffer) -> int:
        while self._pos >= len(self._plain):
            if self._done:
                return 0
            self._next_chunk()
        view = memoryview(b).cast("B")
        n = min(len(view), len(self._plain) - self._pos)
        view[:n] = self._plain[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        out = []
        while size > 0:
            if self._pos >= len(self._plain):
                if self._done:
                    break
                self._next_chunk()
                continue
            piece = self._plain[self._pos : self._pos + size]
            self._pos += len(piece)
            size -= len(piece)
            out.append(piece)
        return b"".join(out)


def open_decrypted(fh: Readable, identities: list[str]) -> BinaryIO:
    """Return a readable stream of the plaintext of the age file `fh`.

    `identities` are secret keys or key files' texts. The header is read and checked
    now: a file for none of them raises AgeError("… no identity matches …") and a
    tampered header raises AgeError, before any byte of plaintext is returned.
    """
    if isinstance(identities, str):
        identities = [identities]
    keys = [identity for text in identities or [] for identity in parse_identities(text)]
    if not keys:
        raise AgeError("No secret key given to decrypt with")
    source = _Source(fh)
    stanzas, covered, mac = _read_header(source)
    if not stanzas:
        raise AgeError("malformed header: no recipient stanza")
    file_key = None
    for stanza in stanzas:
        for identity in keys:
            file_key = identity.unwrap(stanza)
            if file_key is not None:
                break
        if file_key is not None:
            break
    if file_key is None:
        types = sorted({s.type for s in stanzas})
        hint = "" if types == ["X25519"] else f" (the file's recipient types: {', '.join(types)})"
        raise AgeError(f"Cannot decrypt: no identity matches any of the file's recipients{hint}")
    if not hmac.compare_digest(_header_mac(file_key, covered), mac):
        raise AgeError("corrupt header: the header MAC does not match (the file was altered)")
    return DecryptingReader(source, file_key)  # type: ignore[return-value]


def decrypt_bytes(data: bytes, identities: list[str]) -> bytes:
    """Decrypt a whole (small) age file; for tests and tiny files."""
    return open_decrypted(io.BytesIO(data), identities).read()
