"""age keys: bech32 text, X25519 recipients (`age1…`) and identities (`AGE-SECRET-KEY-1…`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

if TYPE_CHECKING:
    pass

from apps.common.age.format import (
    FILE_KEY_SIZE,
    IDENTITY_HRP,
    RECIPIENT_HRP,
    TAG_SIZE,
    X25519_LABEL,
    AgeError,
    _b64decode,
    _hkdf,
    _Stanza,
)

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
