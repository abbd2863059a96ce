"""The pipeline with age recipients: dump → compress → age → sha256 → writers, checked with the age CLI."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.backups import encryption
from apps.backups.pipeline import run_pipeline
from apps.common import age
from apps.destinations.storage import LocalWriter
from apps.engines.base import DumpStream

PAYLOAD = os.urandom(1 << 20) + b"id\tname\tcomment\n" * 200_000  # ~4 MB, part random, part compressible


class BytesDump(DumpStream):
    """A dump of fixed bytes."""

    extension = "dump"

    def __init__(self, data: bytes) -> None:
        self._fh = io.BytesIO(data)
        self.finished = False
        self.aborted = False

    def read(self, size: int) -> bytes:
        return self._fh.read(size)

    def finish(self) -> None:
        self.finished = True

    def abort(self) -> None:
        self.aborted = True


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"`{name}` is not installed: bin/test installs it")
    return path


@pytest.fixture
def key(tmp_path) -> tuple[Path, str, str]:
    """A key file made by age-keygen: (path, identity, recipient)."""
    path = tmp_path / "key.txt"
    done = subprocess.run([_tool("age-keygen"), "-o", str(path)], capture_output=True, text=True, check=True)
    identity = next(line for line in path.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    return path, identity, done.stderr.split("Public key: ")[1].strip()


def writers_in(tmp_path: Path, name: str, count: int = 2) -> dict[int, LocalWriter]:
    writers = {}
    for i in range(count):
        folder = tmp_path / f"dest{i}"
        folder.mkdir()
        writers[i] = LocalWriter(str(folder), name)
    return writers


def restore_by_hand(path: str, key_file: Path, decompress: list[str]) -> bytes:
    """What the README tells a person to run: age -d -i key.txt FILE | zstd -d (or gzip -d)."""
    decrypted = subprocess.run(
        [_tool("age"), "-d", "-i", str(key_file), path], capture_output=True, check=True
    ).stdout
    if not decompress:
        return decrypted
    return subprocess.run(decompress, input=decrypted, capture_output=True, check=True).stdout


@pytest.mark.parametrize(
    "compression, decompress",
    [("zstd", ["zstd", "-d", "-c"]), ("gzip", ["gzip", "-d", "-c"]), ("none", [])],
)
def test_an_encrypted_run_writes_files_the_age_cli_decrypts(tmp_path, key, compression, decompress):
    key_file, _, recipient = key
    name = "shop.dump" + encryption.stored_suffix(compression, encrypted=True)
    writers = writers_in(tmp_path, name)
    stream = BytesDump(PAYLOAD)

    result = run_pipeline(stream, writers, compression, timeout=60, recipients=[recipient])

    assert result.ok, result.error
    assert [o.ok for o in result.outcomes] == [True, True]
    for outcome in result.outcomes:
        stored = Path(outcome.location).read_bytes()
        assert stored.startswith(b"age-encryption.org/v1\n")
        assert PAYLOAD[:4096] not in stored
        # The checksum and size are of the ciphertext: verify needs no key.
        assert hashlib.sha256(stored).hexdigest() == result.sha256
        assert len(stored) == result.size == outcome.size
        assert restore_by_hand(outcome.location, key_file, decompress) == PAYLOAD
    assert result.raw_size == len(PAYLOAD)
    assert stream.finished and not stream.aborted


def test_the_suffix_names_compression_then_encryption():
    assert encryption.stored_suffix("zstd", encrypted=True) == ".zst.age"
    assert encryption.stored_suffix("gzip", encrypted=False) == ".gz"
    assert encryption.stored_suffix("none", encrypted=True) == ".age"


def test_every_recipient_can_decrypt_the_stored_file(tmp_path, key):
    key_file, _, recipient = key
    other_identity, other_recipient = age.generate_identity()
    writers = writers_in(tmp_path, "x.dump.zst.age", count=1)
    result = run_pipeline(
        BytesDump(PAYLOAD), writers, "zstd", timeout=60, recipients=[recipient, other_recipient]
    )
    assert result.ok, result.error
    location = result.outcomes[0].location
    assert restore_by_hand(location, key_file, ["zstd", "-d", "-c"]) == PAYLOAD
    with open(location, "rb") as fh:
        assert encryption.open_stored(fh, "zstd", [other_identity]).read() == PAYLOAD


def test_open_stored_decrypts_and_decompresses_in_the_stream(tmp_path, key):
    _, identity, recipient = key
    writers = writers_in(tmp_path, "x.dump.zst.age", count=1)
    run_pipeline(BytesDump(PAYLOAD), writers, "zstd", timeout=60, recipients=[recipient])
    digest = hashlib.sha256()
    with open(writers[0].location, "rb") as fh:
        reader = encryption.open_stored(fh, "zstd", [Path(key[0]).read_text()])  # a key file's text works
        while block := reader.read(1 << 16):
            digest.update(block)
    assert digest.hexdigest() == hashlib.sha256(PAYLOAD).hexdigest()


def test_open_stored_with_a_wrong_key_fails_before_reading_any_plaintext(tmp_path, key):
    _, _, recipient = key
    wrong_identity, _ = age.generate_identity()
    writers = writers_in(tmp_path, "x.dump.zst.age", count=1)
    run_pipeline(BytesDump(PAYLOAD), writers, "zstd", timeout=60, recipients=[recipient])
    with open(writers[0].location, "rb") as fh, pytest.raises(age.AgeError, match="no identity matches"):
        encryption.open_stored(fh, "zstd", [wrong_identity])


@pytest.mark.parametrize(
    "recipients, message",
    [
        ([], "Encryption could not be set up: No recipient to encrypt to"),
        (["age1notakey"], "Encryption could not be set up: Not a valid age recipient"),
        (["AGE-SECRET-KEY-1QQQQ"], "Encryption could not be set up: This is a secret key"),
    ],
)
def test_it_fails_closed_when_encryption_cannot_be_set_up(tmp_path, recipients, message):
    writers = writers_in(tmp_path, "x.dump.zst.age")
    stream = BytesDump(PAYLOAD)

    result = run_pipeline(stream, writers, "zstd", timeout=60, recipients=recipients)

    assert result.error.startswith(message)
    assert stream.aborted and not stream.finished
    assert result.raw_size == 0 and result.size == 0 and result.sha256 == ""
    for writer in writers.values():
        assert writer.size == 0  # no writer received a byte
    assert [o.ok for o in result.outcomes] == [False, False]
    assert list((tmp_path / "dest0").iterdir()) == [] and list((tmp_path / "dest1").iterdir()) == []


def test_without_recipients_the_stored_bytes_are_plain_compression(tmp_path):
    writers = writers_in(tmp_path, "x.dump.zst", count=1)
    result = run_pipeline(BytesDump(PAYLOAD), writers, "zstd", timeout=60)
    assert result.ok, result.error
    stored = Path(result.outcomes[0].location).read_bytes()
    assert stored.startswith(b"\x28\xb5\x2f\xfd")  # a zstd frame, no age header
    assert subprocess.run(["zstd", "-d", "-c"], input=stored, capture_output=True).stdout == PAYLOAD


def _pg_conn(pg_server, name: str):
    from apps.engines import ConnectionInfo

    return ConnectionInfo(
        engine="postgresql",
        host=pg_server["host"],
        port=int(pg_server["port"]),
        database_name=name,
        username=pg_server["user"],
        password=pg_server["password"],
    )


def test_a_postgresql_backup_restores_by_hand_and_in_the_app(pg_server, pg_database, key, tmp_path):
    """The README's recovery: age -d -i key.txt x.dump.zst.age | zstd -d | pg_restore, with no BackupManager."""
    from apps.engines import get_engine

    key_file, identity, recipient = key
    source = pg_database()
    with pg_database.connect(source) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        cur.execute("INSERT INTO orders SELECT i, md5(i::text) FROM generate_series(1, 5000) i")
    engine = get_engine("postgresql")
    (tmp_path / "work").mkdir()
    stream = engine.dump(_pg_conn(pg_server, source), timeout=60, workdir=tmp_path / "work")
    writers = writers_in(tmp_path, "orders.dump.zst.age", count=1)

    result = run_pipeline(stream, writers, "zstd", timeout=60, recipients=[recipient])

    assert result.ok, result.error
    stored = writers[0].location
    by_hand = pg_database()
    bindir = Path(os.environ.get("BM_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
    script = '"$AGE" -d -i "$KEY" "$FILE" | zstd -d | "$PG_RESTORE" --no-owner -d "$TARGET"'
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        env={
            **os.environ,
            "AGE": _tool("age"),
            "KEY": str(key_file),
            "FILE": stored,
            "PG_RESTORE": str(bindir / "pg_restore"),
            "TARGET": by_hand,
            "PGHOST": pg_server["host"],
            "PGPORT": str(pg_server["port"]),
            "PGUSER": pg_server["user"],
            "PGPASSWORD": pg_server["password"],
        },
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with pg_database.connect(by_hand) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), max(note) FROM orders")
        restored = cur.fetchone()
    assert restored[0] == 5000

    # In the app: decrypt and decompress in the stream, straight into the engine's restore.
    in_app = pg_database()
    with open(stored, "rb") as fh:
        engine.restore(
            _pg_conn(pg_server, in_app),
            encryption.open_stored(fh, "zstd", [identity]),
            timeout=60,
            workdir=tmp_path / "work",
        )
    with pg_database.connect(in_app) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), max(note) FROM orders")
        assert cur.fetchone() == restored
