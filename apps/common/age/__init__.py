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

Modules: `format` (constants, errors, base64, stanzas), `keys` (bech32 key text, X25519
recipients and identities), `stream` (header and payload, encrypting and decrypting).
"""

from apps.common.age.format import (
    CHUNK_SIZE,
    NONCE_SIZE,
    SUFFIX,
    TAG_SIZE,
    AgeError,
    Readable,
)
from apps.common.age.keys import (
    X25519Identity,
    X25519Recipient,
    bech32_decode,
    bech32_encode,
    generate_identity,
    parse_identities,
    parse_identity,
    parse_recipient,
    recipient_of,
)
from apps.common.age.stream import DecryptingReader, Encryptor, decrypt_bytes, encrypt_bytes, open_decrypted

__all__ = [
    "CHUNK_SIZE",
    "NONCE_SIZE",
    "SUFFIX",
    "TAG_SIZE",
    "AgeError",
    "DecryptingReader",
    "Encryptor",
    "Readable",
    "X25519Identity",
    "X25519Recipient",
    "bech32_decode",
    "bech32_encode",
    "decrypt_bytes",
    "encrypt_bytes",
    "generate_identity",
    "open_decrypted",
    "parse_identities",
    "parse_identity",
    "parse_recipient",
    "recipient_of",
]
