"""The age v1 file format (https://age-encryption.org/v1), X25519 recipients only, streaming.

Framework-free, on the `cryptography` package's primitives. A file is

    age-encryption.org/v1
    -> X25519 <ephemeral share, base64>       one stanza per recipient: the 16-byte file key
    <wrapped file key, base64>                 wrapped with ChaCha20-Poly1305 under an X25519 + HKDF key
    --- <HMAC-SHA256 of the header, base64>
    <16-byte nonce><payload>

where the payload is the plaintext in 64 KiB chunks, each sealed with ChaCha20-Poly1305 under
HKDF(file key, nonce, "payload") with an 11-byte chunk counter and a final-chunk flag as nonce.
So anyone with the key file decrypts with the standard tool: `age -d -i key.txt file.age`.

`Encryptor` is push-style (update → ciphertext so far, finalize → the rest) for the backup
pipeline; `open_decrypted` is a pull-style reader for restores and downloads. Both hold at
most one chunk of plaintext, so memory stays constant whatever the file size.
"""

from __future__ import annotations

import base64
import hmac
import io
import os
import re
from collections.abc import Iterable
from hashlib import sha256
from typing import TYPE_CHECKING, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

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


# --- bech32 (BIP 173), as age encodes its keys ------------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: Iterable[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= _GENERATOR[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or (acc << (to_bits - bits)) & maxv:
        return None
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode bytes as lower-case bech32 with the given human-readable part."""
    values = _convert_bits(data, 8, 5, True) or []
    checksum_input = _hrp_expand(hrp) + values + [0] * 6
    polymod = _polymod(checksum_input) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """Return (hrp, data) of a bech32 string (all lower or all upper case); raise AgeError."""
    if text.lower() != text and text.upper() != text:
        raise AgeError("mixed upper and lower case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise AgeError("not bech32 (separator or checksum missing)")
    hrp, rest = text[:pos], text[pos + 1 :]
    if any(ord(c) < 33 or ord(c) > 126 for c in hrp) or any(c not in _CHARSET for c in rest):
        raise AgeError("not bech32 (invalid character)")
    values = [_CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + values) != 1:
        raise AgeError("bad checksum (a character is wrong or missing)")
    data = _convert_bits(values[:-6], 5, 8, False)
    if data is None:
        raise AgeError("not bech32 (invalid padding)")
    return hrp, bytes(data)


# --- keys -------------------------------------------------------------------------------------


class X25519Recipient:
    """A public key files are encrypted to: `age1…`."""

    def __init__(self, public: bytes) -> None:
        if len(public) != 32:
            raise AgeError("an X25519 recipient is 32 bytes")
        self.public = public

    def __str__(self) -> str:
        return bech32_encode(RECIPIENT_HRP, self.public)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519Recipient) and other.public == self.public

    def __hash__(self) -> int:
        return hash(self.public)


class X25519Identity:
    """A secret key that opens files encrypted to its recipient: `AGE-SECRET-KEY-1…`."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise AgeError("an X25519 identity is 32 bytes")
        self._key = X25519PrivateKey.from_private_bytes(secret)
        self._secret = secret
        self.recipient = X25519Recipient(self._key.public_key().public_bytes_raw())

    def __str__(self) -> str:
        return bech32_encode(IDENTITY_HRP, self._secret).upper()

    def __repr__(self) -> str:  # never the secret, even in a traceback
        return f"<X25519Identity for {self.recipient}>"

    def unwrap(self, stanza: _Stanza) -> bytes | None:
        """Return the file key if this stanza was made for this identity, else None."""
        if stanza.type != "X25519":
            return None
        if len(stanza.args) != 1:
            raise AgeError("malformed X25519 stanza in the header (wrong number of arguments)")
        share = _b64decode(stanza.args[0], "X25519 share")
        if len(share) != 32 or len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
            raise AgeError("malformed X25519 stanza in the header (wrong share or body size)")
        try:
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:  # low-order point: all-zero shared secret
            raise AgeError("malformed X25519 stanza in the header (invalid share)") from None
        wrap_key = _hkdf(shared, share + self.recipient.public, X25519_LABEL)
        try:
            return ChaCha20Poly1305(wrap_key).decrypt(bytes(12), stanza.body, None)
        except InvalidTag:
            return None  # made for another recipient


def generate_identity() -> tuple[str, str]:
    """Return a new (identity 'AGE-SECRET-KEY-1…', recipient 'age1…') pair."""
    identity = X25519Identity(X25519PrivateKey.generate().private_bytes_raw())
    return str(identity), str(identity.recipient)


def _key_lines(text: str) -> list[str]:
    """The non-blank lines of a key text that are not comments (age-keygen's '# …' lines)."""
    if not isinstance(text, str):
        raise AgeError("a key must be text")
    text = text.lstrip("\ufeff")  # a key file saved by an editor that adds a byte-order mark
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _parse_recipient(text: str) -> X25519Recipient:
    text = text.strip()
    if not text:
        raise AgeError("Empty recipient: enter a public key starting with age1")
    if text.upper().startswith("AGE-SECRET-KEY-"):
        raise AgeError(
            "This is a secret key (AGE-SECRET-KEY-1…), not a recipient: enter its public key (age1…)"
        )
    if not text.lower().startswith("age1"):
        raise AgeError("Not an age recipient: an X25519 public key starts with age1")
    try:
        hrp, data = bech32_decode(text)
    except AgeError as exc:
        raise AgeError(f"Not a valid age recipient: {exc}") from None
    if hrp != RECIPIENT_HRP or len(data) != 32:
        raise AgeError("Not a valid age recipient: wrong length")
    return X25519Recipient(data)


def parse_recipient(text: str) -> str:
    """Return the canonical 'age1…' form of a recipient; raise AgeError with the reason if it is not one."""
    if not isinstance(text, str):
        raise AgeError("A recipient must be text")
    return str(_parse_recipient(text))


def _parse_identity_line(line: str) -> X25519Identity:
    if not line.upper().startswith("AGE-SECRET-KEY-1"):
        if line.lower().startswith("age1"):
            raise AgeError("This is a public key (age1…), not a secret key: enter AGE-SECRET-KEY-1…")
        raise AgeError("Not an age secret key: it starts with AGE-SECRET-KEY-1")
    if line != line.upper():
        raise AgeError("Not a valid age secret key: it must be upper case")
    try:
        hrp, data = bech32_decode(line)
    except AgeError as exc:
        raise AgeError(f"Not a valid age secret key: {exc}") from None
    if hrp != IDENTITY_HRP or len(data) != 32:
        raise AgeError("Not a valid age secret key: wrong length")
    return X25519Identity(data)


def parse_identities(text: str) -> list[X25519Identity]:
    """Parse a key file's text (one AGE-SECRET-KEY-1… per line, '#' comments); raise AgeError if none."""
    lines = _key_lines(text)
    if not lines:
        raise AgeError("No secret key found: paste the AGE-SECRET-KEY-1… line of the key file")
    return [_parse_identity_line(line) for line in lines]


def _single_identity(text: str) -> X25519Identity:
    identities = parse_identities(text)
    if len(identities) > 1:
        raise AgeError("More than one secret key in this text: give one")
    return identities[0]


def parse_identity(text: str) -> str:
    """Return the canonical 'AGE-SECRET-KEY-1…' of a key text holding exactly one secret key."""
    return str(_single_identity(text))


def recipient_of(identity: str) -> str:
    """Return the 'age1…' recipient of a secret key (or of a key file's text with one key)."""
    return str(_single_identity(identity).recipient)


# --- header -----------------------------------------------------------------------------------


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
