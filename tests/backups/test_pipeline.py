"""The pipeline on its own: fake dump streams, real local writers in temp folders."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import threading
import time

import pytest

from apps.backups import compression as codecs
from apps.backups.pipeline import run_pipeline
from apps.destinations.storage import LocalWriter, StorageError
from apps.engines.base import DumpStream, EngineError

PAYLOAD = os.urandom(1 << 20).hex().encode() + b"row\tvalue\n" * 300_000  # ~5 MB, compressible in part


class BytesDump(DumpStream):
    """A dump of fixed bytes; optionally fails at finish() or blocks in read()."""

    extension = "dump"

    def __init__(self, data: bytes, *, fail: str = "", block_after: int | None = None) -> None:
        self._fh = io.BytesIO(data)
        self._fail = fail
        self._block_after = block_after
        self._aborted = threading.Event()
        self.finished = False
        self.aborted = False

    def read(self, size: int) -> bytes:
        if self._block_after is not None and self._fh.tell() >= self._block_after:
            self._aborted.wait(30)  # like a pipe whose tool hangs, until killed
            return b""
        return self._fh.read(size)

    def finish(self) -> None:
        self.finished = True
        if self._fail:
            raise EngineError(self._fail)

    def abort(self) -> None:
        self.aborted = True
        self._aborted.set()


class ProcessDump(DumpStream):
    """A real child process writing to a pipe, as the engines run pg_dump."""

    extension = "dump"

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )

    def read(self, size: int) -> bytes:
        return self.proc.stdout.read1(size)

    def finish(self) -> None:
        rc = self.proc.wait()
        err = self.proc.stderr.read().decode()
        if rc != 0:
            raise EngineError(f"tool exited with status {rc}: {err.strip()[-200:]}")

    def abort(self) -> None:
        # The whole process group, like the engines do: a child holding the pipe must go too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def writers_for(tmp_path, count: int, name: str = "db_20260101T000000Z_1.dump") -> dict:
    writers = {}
    for i in range(count):
        folder = tmp_path / f"dest{i}"
        folder.mkdir(exist_ok=True)
        writers[i] = LocalWriter(str(folder), name)
    return writers


def leftovers(tmp_path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd"])
def test_it_writes_identical_files_whose_sha256_is_the_result(tmp_path, kind):
    writers = writers_for(tmp_path, 3)
    result = run_pipeline(BytesDump(PAYLOAD), writers, kind, timeout=60)

    assert result.ok, result.error
    assert result.raw_size == len(PAYLOAD)
    files = [tmp_path / f"dest{i}" / "db_20260101T000000Z_1.dump" for i in range(3)]
    contents = {f.read_bytes() for f in files}
    assert len(contents) == 1
    stored = contents.pop()
    assert hashlib.sha256(stored).hexdigest() == result.sha256
    assert len(stored) == result.size
    assert all(o.ok and o.size == result.size and not o.error for o in result.outcomes)
    assert codecs.open_decompressed(io.BytesIO(stored), kind).read() == PAYLOAD
    if kind != "none":
        assert result.size < len(PAYLOAD)
    assert not list(tmp_path.rglob("*.partial"))


def test_final_files_are_not_world_readable(tmp_path):
    writers = writers_for(tmp_path, 1)
    run_pipeline(BytesDump(b"secret data"), writers, "none", timeout=60)
    mode = os.stat(tmp_path / "dest0" / "db_20260101T000000Z_1.dump").st_mode & 0o777
    assert mode & 0o007 == 0


def test_a_destination_that_fails_is_dropped_and_the_others_go_on(tmp_path):
    writers = writers_for(tmp_path, 3)
    # A real "disk full": the middle writer's file is /dev/full.
    writers[1]._fh.close()
    writers[1]._fh = open("/dev/full", "wb", buffering=0)  # noqa: SIM115

    result = run_pipeline(BytesDump(PAYLOAD), writers, "zstd", timeout=60)

    assert result.ok
    ok = {o.key: o for o in result.outcomes}
    assert ok[0].ok and ok[2].ok
    assert not ok[1].ok
    assert "No space left on device" in ok[1].error
    assert not (tmp_path / "dest1" / "db_20260101T000000Z_1.dump").exists()
    assert not (tmp_path / "dest1" / "db_20260101T000000Z_1.dump.partial").exists()
    assert hashlib.sha256((tmp_path / "dest0" / "db_20260101T000000Z_1.dump").read_bytes()).hexdigest() == (
        result.sha256
    )


def test_when_every_destination_fails_the_dump_is_stopped(tmp_path):
    writers = writers_for(tmp_path, 2)
    for writer in writers.values():
        writer._fh.close()
        writer._fh = open("/dev/full", "wb", buffering=0)  # noqa: SIM115
    dump = BytesDump(PAYLOAD)

    result = run_pipeline(dump, writers, "none", timeout=60)

    assert result.error.startswith("Every destination failed: Cannot write")
    assert "No space left on device" in result.error
    assert dump.aborted and not dump.finished
    assert leftovers(tmp_path) == []


def test_a_failed_dump_leaves_no_file_anywhere(tmp_path):
    writers = writers_for(tmp_path, 3)
    dump = BytesDump(PAYLOAD, fail="pg_dump: error: connection to server failed")

    result = run_pipeline(dump, writers, "zstd", timeout=60)

    assert result.error == "pg_dump: error: connection to server failed"
    assert not result.sha256
    assert all(not o.ok for o in result.outcomes)
    assert leftovers(tmp_path) == []


def test_a_dump_process_killed_mid_run_fails_and_leaves_nothing(tmp_path):
    writers = writers_for(tmp_path, 2)
    dump = ProcessDump("head -c 3000000 /dev/urandom; sleep 30")

    def kill_when_started():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(tmp_path.rglob("*.partial")):
            time.sleep(0.01)
        while time.monotonic() < deadline and all(p.stat().st_size == 0 for p in tmp_path.rglob("*.partial")):
            time.sleep(0.01)
        os.killpg(dump.proc.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    result = run_pipeline(dump, writers, "none", timeout=60)
    killer.join()

    assert result.error.startswith("tool exited with status -9")
    assert leftovers(tmp_path) == []


def test_a_dump_that_hangs_is_stopped_at_the_timeout(tmp_path):
    writers = writers_for(tmp_path, 2)
    dump = BytesDump(PAYLOAD, block_after=2 << 20)
    started = time.monotonic()

    result = run_pipeline(dump, writers, "zstd", timeout=1)

    assert time.monotonic() - started < 5
    assert result.error == "Dump timed out after 1 s"
    assert dump.aborted
    assert leftovers(tmp_path) == []


def test_a_cancelled_run_leaves_nothing(tmp_path):
    writers = writers_for(tmp_path, 1)
    dump = BytesDump(PAYLOAD, block_after=1 << 20)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()

    result = run_pipeline(dump, writers, "none", timeout=60, cancel=cancel)

    assert result.error == "Backup cancelled"
    assert leftovers(tmp_path) == []


def test_progress_is_reported_about_once_a_second(tmp_path, monkeypatch):
    from apps.backups import pipeline

    monkeypatch.setattr(pipeline, "PROGRESS_INTERVAL", 0.0)
    seen = []
    result = run_pipeline(
        BytesDump(PAYLOAD), writers_for(tmp_path, 1), "none", timeout=60, on_progress=seen.append
    )
    assert seen and seen == sorted(seen)
    assert seen[-1] == result.size


def test_a_writer_refuses_to_overwrite_an_existing_final_file(tmp_path):
    (tmp_path / "dest0").mkdir()
    (tmp_path / "dest0" / "db_20260101T000000Z_1.dump").write_bytes(b"older")
    writers = writers_for(tmp_path, 1)

    result = run_pipeline(BytesDump(b"new"), writers, "none", timeout=60)

    assert not result.outcomes[0].ok
    assert "File exists" in result.outcomes[0].error
    assert (tmp_path / "dest0" / "db_20260101T000000Z_1.dump").read_bytes() == b"older"
    assert not (tmp_path / "dest0" / "db_20260101T000000Z_1.dump.partial").exists()


def test_a_writer_cannot_start_in_a_folder_that_is_a_file(tmp_path):
    (tmp_path / "not-a-folder").write_text("x")
    with pytest.raises(StorageError, match="Not a directory"):
        LocalWriter(str(tmp_path / "not-a-folder"), "x.dump")


def test_corrupt_compressed_data_is_reported(tmp_path):
    compressor = codecs.compressor("zstd")
    data = bytearray(compressor.compress(PAYLOAD) + compressor.flush())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(codecs.CompressionError):
        codecs.open_decompressed(io.BytesIO(bytes(data)), "zstd").read()
