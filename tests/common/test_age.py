"""The age format module against the real `age` CLI (Debian package `age`, installed by bin/test)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from apps.common import age

MiB = 1 << 20
CHUNK = age.CHUNK_SIZE
SEALED = CHUNK + age.TAG_SIZE


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"`{name}` is not installed: bin/test installs the Debian package `age`")
    return path


@pytest.fixture
def keygen(tmp_path):
    """Make a key file with age-keygen; return (path, identity, recipient)."""

    def make(name: str = "key.txt") -> tuple[Path, str, str]:
        path = tmp_path / name
        done = subprocess.run([_tool("age-keygen"), "-o", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        text = path.read_text()
        identity = next(line for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
        recipient = done.stderr.split("Public key: ")[1].strip()
        return path, identity, recipient

    return make


def cli_decrypt(data: bytes, key_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("age"), "-d", "-i", str(key_file)], input=data, capture_output=True)


def cli_encrypt(data: bytes, *recipients: str) -> bytes:
    args = [_tool("age")]
    for recipient in recipients:
        args += ["-r", recipient]
    done = subprocess.run(args, input=data, capture_output=True, check=True)
    return done.stdout


def encrypt_in_pieces(data: bytes, recipients: list[str], piece: int) -> bytes:
    enc = age.Encryptor(recipients)
    out = [enc.update(data[i : i + piece]) for i in range(0, len(data), piece)]
    return b"".join(out) + enc.finalize()


SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * MiB + 17]


@pytest.mark.parametrize("size", SIZES)
def test_files_we_encrypt_decrypt_with_the_age_cli(keygen, size):
    key_file, _, recipient = keygen()
    data = os.urandom(size)
    encrypted = encrypt_in_pieces(data, [recipient], piece=7_000)
    done = cli_decrypt(encrypted, key_file)
    assert done.returncode == 0, done.stderr
    assert done.stdout == data


@pytest.mark.parametrize("size", SIZES)
def test_files_the_age_cli_encrypts_decrypt_with_ours(keygen, size):
    _, identity, recipient = keygen()
    data = os.urandom(size)
    assert age.decrypt_bytes(cli_encrypt(data, recipient), [identity]) == data


def test_the_ciphertext_has_the_size_the_format_defines(keygen):
    _, _, recipient = keygen()
    for size in SIZES:
        ours = age.encrypt_bytes(os.urandom(size), [recipient])
        theirs = cli_encrypt(os.urandom(size), recipient)
        assert len(ours) == len(theirs)  # same header shape and chunking


def test_output_does_not_depend_on_how_the_input_was_split(keygen):
    key_file, _, recipient = keygen()
    data = os.urandom(5 * CHUNK + 3)
    for piece in (1, 1000, CHUNK, CHUNK + 1, MiB):
        done = cli_decrypt(encrypt_in_pieces(data, [recipient], piece), key_file)
        assert done.stdout == data


def test_a_file_for_several_recipients_opens_with_each_key(keygen):
    first_file, first, first_recipient = keygen("a.txt")
    second_file, second, second_recipient = keygen("b.txt")
    data = b"two keys\n" * 10_000
    encrypted = age.encrypt_bytes(data, [first_recipient, second_recipient])
    assert cli_decrypt(encrypted, first_file).stdout == data
    assert cli_decrypt(encrypted, second_file).stdout == data
    assert age.decrypt_bytes(encrypted, [second]) == data
    assert age.decrypt_bytes(cli_encrypt(data, first_recipient, second_recipient), [second]) == data


def test_keys_from_age_keygen_import_with_their_comments(keygen):
    key_file, identity, recipient = keygen()
    text = key_file.read_text()
    assert text.startswith("# created: ")
    assert age.parse_identity(text) == identity
    assert age.recipient_of(text) == recipient
    assert age.parse_recipient(f"  {recipient}\n") == recipient
    windows = "\ufeff" + text.replace("\n", "\r\n")  # a copy saved by a Windows editor
    assert age.parse_identity(windows) == identity


def test_generated_keys_work_with_the_age_cli(tmp_path):
    identity, recipient = age.generate_identity()
    assert identity.startswith("AGE-SECRET-KEY-1") and identity == identity.upper()
    assert recipient.startswith("age1") and recipient == recipient.lower()
    assert age.recipient_of(identity) == recipient
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"# a key\n{identity}\n")
    done = subprocess.run([_tool("age-keygen"), "-y", str(key_file)], capture_output=True, text=True)
    assert done.stdout.strip() == recipient
    assert cli_decrypt(cli_encrypt(b"x" * 100_000, recipient), key_file).stdout == b"x" * 100_000
    assert cli_decrypt(age.encrypt_bytes(b"hello", [recipient]), key_file).stdout == b"hello"


# The age test-kit key (32 bytes of 0x42) and a file the age 1.1.1 CLI encrypted to it.
KNOWN_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
KNOWN_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
KNOWN_FILE = (
    "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBkM3JURWtlcEE3cGY1UFhKNWFKL1J2NlphbWNJb0wvTFFBUytsMHY0"
    "UENJCk5MaE9LU04wRXIydk5wQ2VFS0NqdWlpWXhzOUhLODYydXBMTTcwdXpxOFUKLS0tIHRIaHRqbUdRdGtFUUdQYURWRFdl"
    "Zzh0blpldm02bEw4eVkvNDQraHZhU3MKYjwRG4+VPqBYaercJ/XkQQGiJuBJ844lgzC7yWMvh9NkiOIdSgZW1CMgoW3n"
)


def test_a_known_key_and_file_from_the_age_cli_decode_without_the_cli():
    assert age.recipient_of(KNOWN_IDENTITY) == KNOWN_RECIPIENT
    assert age.decrypt_bytes(base64.b64decode(KNOWN_FILE), [KNOWN_IDENTITY]) == b"known vector\n"


def test_the_bech32_encoding_matches_the_reference_vectors():
    # BIP 173's valid test strings, decoded and re-encoded.
    for text in [
        "a12uel5l",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    ]:
        hrp, data = age.bech32_decode(text)
        assert age.bech32_encode(hrp, data) == text
    with pytest.raises(age.AgeError, match="checksum"):
        age.bech32_decode("a12uel5m")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Empty recipient"),
        ("ssh-ed25519 AAAA", "starts with age1"),
        ("age1qqqq", "Not a valid age recipient"),
        ("AGE-SECRET-KEY-1QQQQ", "secret key"),
    ],
)
def test_bad_recipients_are_refused_with_the_reason(text, message):
    with pytest.raises(age.AgeError, match=message):
        age.parse_recipient(text)


def test_a_recipient_with_one_wrong_character_is_refused():
    _, recipient = age.generate_identity()
    wrong = recipient[:-3] + ("q" if recipient[-3] != "q" else "p") + recipient[-2:]
    with pytest.raises(age.AgeError, match="checksum"):
        age.parse_recipient(wrong)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "No secret key found"),
        ("# only a comment\n", "No secret key found"),
        ("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "public key"),
        ("AGE-SECRET-KEY-1QQQQ", "Not a valid age secret key"),
    ],
)
def test_bad_identities_are_refused_with_the_reason(text, message):
    with pytest.raises(age.AgeError, match=message):
        age.parse_identity(text)


def test_a_lower_case_secret_key_is_refused():
    identity, _ = age.generate_identity()
    with pytest.raises(age.AgeError, match="upper case"):
        age.parse_identity(identity.lower())


def test_an_identity_never_shows_its_secret_in_its_repr():
    identity, recipient = age.generate_identity()
    parsed = age.parse_identities(identity)[0]
    assert identity not in repr(parsed) and recipient in repr(parsed)


def test_encrypting_to_no_recipient_fails_before_any_byte():
    with pytest.raises(age.AgeError, match="No recipient"):
        age.Encryptor([])
    with pytest.raises(age.AgeError, match="starts with age1"):
        age.Encryptor(["not-a-key"])


def test_a_wrong_key_fails_before_any_byte_with_a_clear_message(keygen):
    _, _, recipient = keygen("right.txt")
    _, wrong, _ = keygen("wrong.txt")
    with pytest.raises(age.AgeError, match="no identity matches"):
        age.open_decrypted(io.BytesIO(cli_encrypt(b"secret", recipient)), [wrong])


def test_a_corrupt_byte_in_a_chunk_is_named(keygen):
    key_file, identity, recipient = keygen()
    data = os.urandom(3 * CHUNK)
    encrypted = bytearray(age.encrypt_bytes(data, [recipient]))
    header_end = len(encrypted) - 3 * SEALED - age.NONCE_SIZE
    encrypted[header_end + age.NONCE_SIZE + SEALED + 100] ^= 1  # in chunk 1
    reader = age.open_decrypted(io.BytesIO(bytes(encrypted)), [identity])
    assert reader.read(CHUNK) == data[:CHUNK]  # chunk 0 is intact
    with pytest.raises(age.AgeError, match="chunk 1 .* fails authentication"):
        reader.read(CHUNK)
    assert cli_decrypt(bytes(encrypted), key_file).returncode != 0  # the CLI agrees


def test_a_corrupt_header_fails_the_mac_check(keygen):
    _, identity, recipient = keygen()
    encrypted = age.encrypt_bytes(b"data", [recipient])
    # Add a stanza the reader ignores: only the MAC can notice.
    tampered = encrypted.replace(b"\n---", b"\n-> grease x\n\n---", 1)
    with pytest.raises(age.AgeError, match="header MAC does not match"):
        age.decrypt_bytes(tampered, [identity])
    bad_mac = encrypted.replace(b"--- ", b"--- A", 1)
    with pytest.raises(age.AgeError, match="MAC"):
        age.decrypt_bytes(bad_mac, [identity])


@pytest.mark.parametrize(
    "cut, message",
    [
        (lambda n: 10, "truncated header"),
        (lambda n: n - 3 * SEALED - 8, "payload nonce missing"),
        (lambda n: n - 3 * SEALED, "payload is empty"),
        (lambda n: n - SEALED, "ends after chunk 1 without a final chunk"),
        (lambda n: n - 1, "chunk 2 .* fails authentication"),
        (lambda n: n - SEALED + 5, "chunk 2 is shorter than its authentication tag"),
    ],
)
def test_a_truncated_file_fails_naming_where(keygen, cut, message):
    _, identity, recipient = keygen()
    encrypted = age.encrypt_bytes(os.urandom(3 * CHUNK), [recipient])
    with pytest.raises(age.AgeError, match=message):
        age.decrypt_bytes(encrypted[: cut(len(encrypted))], [identity])


def test_data_after_the_final_chunk_is_refused(keygen):
    _, identity, recipient = keygen()
    encrypted = age.encrypt_bytes(os.urandom(CHUNK), [recipient])
    with pytest.raises(age.AgeError, match="data follows the final chunk"):
        age.decrypt_bytes(encrypted + b"extra", [identity])


def test_a_file_that_is_not_age_is_refused(keygen):
    _, identity, _ = keygen()
    with pytest.raises(age.AgeError, match="not an age v1 file"):
        age.decrypt_bytes(b"PGDMP\x01\x0e\x00" * 10 + b"\n", [identity])
    with pytest.raises(age.AgeError, match="does not end within 1 MiB"):
        age.decrypt_bytes(b"age-encryption.org/v1\n" + b"x" * (2 * MiB), [identity])
    endless_stanza = b"age-encryption.org/v1\n-> X25519 abc\n" + (b"A" * 64 + b"\n") * 20_000
    with pytest.raises(age.AgeError, match="header: larger than 1 MiB"):
        age.decrypt_bytes(endless_stanza, [identity])


def test_an_armored_file_is_refused_with_a_hint(keygen):
    _, identity, recipient = keygen()
    armored = subprocess.run(
        [_tool("age"), "-a", "-r", recipient], input=b"x", capture_output=True, check=True
    ).stdout
    with pytest.raises(age.AgeError, match="ASCII-armored"):
        age.decrypt_bytes(armored, [identity])


def test_streaming_200_mb_through_the_encryptor_keeps_memory_bounded(tmp_path):
    identity, recipient = age.generate_identity()
    piece = os.urandom(MiB)
    size = 200 * MiB
    digest = hashlib.sha256()
    enc = age.Encryptor([recipient])
    out = tmp_path / "big.age"
    tracemalloc.start()
    try:
        with out.open("wb") as fh:
            for _ in range(size // MiB):
                block = enc.update(piece)
                digest.update(block)
                fh.write(block)
            fh.write(enc.finalize())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert (
        out.stat().st_size
        == len(age.encrypt_bytes(b"", [recipient])) - age.TAG_SIZE + size + (size // CHUNK) * age.TAG_SIZE
    )

    # And the reader streams it back in constant memory too.
    plain = hashlib.sha256()
    tracemalloc.start()
    try:
        with out.open("rb") as fh:
            reader = age.open_decrypted(fh, [identity])
            while block := reader.read(MiB):
                plain.update(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert plain.hexdigest() == hashlib.sha256(piece * (size // MiB)).hexdigest()


def test_a_multi_megabyte_file_round_trips_through_the_cli_in_a_pipe(keygen, tmp_path):
    key_file, identity, recipient = keygen()
    data = os.urandom(MiB) * 8
    done = cli_decrypt(encrypt_in_pieces(data, [recipient], piece=MiB), key_file)
    assert hashlib.sha256(done.stdout).digest() == hashlib.sha256(data).digest()
    reader = age.open_decrypted(io.BytesIO(cli_encrypt(data, recipient)), [identity])
    assert reader.read(10) == data[:10]
    assert reader.read() == data[10:]
    assert reader.read(10) == b""


def test_error_messages_never_repeat_the_key_they_refuse():
    identity, _ = age.generate_identity()
    typo = identity[:-5] + ("Q" if identity[-5] != "Q" else "P") + identity[-4:]
    for bad in (typo, typo.lower(), identity + "\n" + typo):
        with pytest.raises(age.AgeError) as caught:
            age.parse_identity(bad)
        assert (
            identity[16:40] not in str(caught.value) and typo[16:40].lower() not in str(caught.value).lower()
        )
