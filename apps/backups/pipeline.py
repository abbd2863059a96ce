"""Dump once, fan out: engine output → compress (→ encrypt) → sha256 + size → every destination.

    DumpStream.read(1 MiB) ─→ compressor ─→ sha256/size ─┬→ queue → writer thread → dest 1
                                                         ├→ queue → writer thread → dest 2
                                                         └→ queue → writer thread → dest 3

The main thread reads and compresses (zstd runs in its own threads, outside
the GIL), then encrypts with age when the run has recipients (so the sha256 is
of the stored ciphertext and verifying needs no key); one writer thread per
destination drains a small bounded queue, so destinations write in parallel,
a slow destination only holds back the dump by its queue depth, and the final
fsyncs run concurrently. Memory is bounded
by CHUNK_SIZE × QUEUE_DEPTH per destination, whatever the database size.

A destination whose writer fails is dropped (its copy fails, the others go
on). When every destination has failed the dump is stopped. When the dump
itself fails, times out or is cancelled, every writer is aborted, so no file
appears at any final path.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.backups import compression as codecs
from apps.backups import encryption
from apps.common.logformat import in_context
from apps.destinations.storage import StorageError, Writer
from apps.engines.base import DumpStream, EngineError

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
QUEUE_DEPTH = 4
PROGRESS_INTERVAL = 1.0
# How long to wait for a writer to commit or abort after the dump ended.
WRITER_JOIN_SECONDS = 600

_COMMIT = object()
_ABORT = object()


class PipelineAbort(Exception):
    """The run must stop: timeout, cancellation, or no destination left."""


@dataclass
class CopyOutcome:
    """What happened at one destination."""

    key: Any
    location: str
    ok: bool
    size: int
    error: str = ""


@dataclass
class PipelineResult:
    """The outcome of one run: the stored bytes' size and sha256, and each destination's outcome."""

    size: int = 0
    sha256: str = ""
    raw_size: int = 0
    error: str = ""
    outcomes: list[CopyOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def succeeded(self) -> list[CopyOutcome]:
        return [o for o in self.outcomes if o.ok]


class DestinationSink:
    """A writer fed through a bounded queue by its own thread."""

    def __init__(self, key: Any, writer: Writer, depth: int = QUEUE_DEPTH) -> None:
        self.key = key
        self.writer = writer
        self.error: str = ""
        self.committed = False
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)  # bytes chunks, then an end marker
        self._failed = threading.Event()
        # The run's log context (run id, database) follows into the writer thread, with its copy.
        self._thread = threading.Thread(
            target=in_context(self._run, copy_id=key), name=f"bm-writer-{key}", daemon=True
        )
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self._failed.is_set()

    def _fail(self, message: str) -> None:
        self.error = message
        self._failed.set()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _ABORT:
                self.writer.abort()
                return
            if item is _COMMIT:
                if self.failed:
                    self.writer.abort()
                    return
                try:
                    self.writer.commit()
                    self.committed = True
                except StorageError as exc:
                    self._fail(str(exc))
                except Exception as exc:  # never leave a partial behind on a surprise
                    log.exception("Writer for %s failed to commit", self.key)
                    self._fail(f"Cannot finalise {self.writer.location}: {exc}")
                    self.writer.abort()
                return
            if self.failed:
                continue  # drain until the end marker so the producer never blocks
            try:
                self.writer.write(item)
            except StorageError as exc:
                self._fail(str(exc))
                self.writer.abort()
            except Exception as exc:
                log.exception("Writer for %s failed", self.key)
                self._fail(f"Cannot write {self.writer.location}: {exc}")
                self.writer.abort()

    def put(self, chunk: bytes, check: Callable[[], None]) -> None:
        """Queue a chunk, calling check() while waiting (it raises to stop the run)."""
        while not self.failed:
            try:
                self._queue.put(chunk, timeout=0.5)
                return
            except queue.Full:
                check()

    def _put_marker(self, marker: object, deadline: float) -> None:
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.put(marker, timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self, commit: bool) -> None:
        """Send the end marker (commit or abort) without waiting for it."""
        self._put_marker(_COMMIT if commit else _ABORT, time.monotonic() + WRITER_JOIN_SECONDS)

    def join(self, timeout: float = WRITER_JOIN_SECONDS) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._fail(f"Writing {self.writer.location} did not finish within {int(timeout)} s")


class _Watchdog:
    """Abort the dump stream when the deadline passes or cancellation is requested."""

    def __init__(self, stream: DumpStream, timeout: float, cancel: threading.Event | None) -> None:
        self.stream = stream
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.cancel = cancel
        self.reason = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bm-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            reason = self.expired()
            if reason:
                self.reason = reason
                try:
                    self.stream.abort()
                except Exception:  # the main thread reports the timeout either way
                    log.exception("Aborting the dump stream failed")
                return

    def expired(self) -> str:
        if self.cancel is not None and self.cancel.is_set():
            return "cancelled"
        if time.monotonic() > self.deadline:
            return f"timed out after {_seconds(self.timeout)}"
        return ""

    def check(self) -> None:
        reason = self.reason or self.expired()
        if reason:
            self.reason = reason
            raise PipelineAbort(reason)

    def stop(self) -> None:
        self._stop.set()


def _seconds(value: float) -> str:
    return f"{int(value)} s" if value >= 1 else f"{value:.1f} s"


def run_pipeline(
    stream: DumpStream,
    writers: Mapping[Any, Writer],
    compression: str,
    *,
    timeout: float,
    on_progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    chunk_size: int = CHUNK_SIZE,
    recipients: Sequence[str] | None = None,
) -> PipelineResult:
    """Stream `stream` through the compressor (and age) to every writer; return what happened.

    Never raises for a failed dump, writer, timeout or cancellation: those are
    in the result (`error` for the run, each outcome's `error`). On success
    every surviving writer is committed; on failure every writer is aborted and
    the stream too. `on_progress(stored_bytes)` is called about once a second.

    `recipients` (age1… public keys) encrypt the stored bytes; None stores them
    unencrypted. Fail closed: recipients that cannot be used (an empty list, a bad
    key) fail the run before any writer receives a byte.
    """
    result = PipelineResult()
    sinks = [DestinationSink(key, writer) for key, writer in writers.items()]
    watchdog = _Watchdog(stream, timeout, cancel)
    digest = hashlib.sha256()
    last_progress = time.monotonic()

    def live() -> list[DestinationSink]:
        return [s for s in sinks if not s.failed]

    def emit(data: bytes) -> None:
        if not data:
            return
        digest.update(data)
        result.size += len(data)
        for sink in live():
            sink.put(data, watchdog.check)
        if not live():
            raise PipelineAbort("every destination failed")

    try:
        if not sinks:
            raise PipelineAbort("no destination to write to")
        try:
            compressor = encryption.stored_codec(compression, recipients)
        except encryption.AgeError as exc:
            raise PipelineAbort(f"encryption could not be set up: {exc}") from None
        while True:
            watchdog.check()
            try:
                chunk = stream.read(chunk_size)
            except Exception:
                watchdog.check()  # a read interrupted by the watchdog's abort
                raise
            if not chunk:
                break
            result.raw_size += len(chunk)
            emit(compressor.compress(chunk))
            now = time.monotonic()
            if on_progress is not None and now - last_progress >= PROGRESS_INTERVAL:
                last_progress = now
                on_progress(result.size)
        watchdog.check()  # EOF may come from the watchdog killing the tool
        emit(compressor.flush())
        stream.finish()
        watchdog.check()
    except PipelineAbort as exc:
        result.error = _abort_message(str(exc), sinks)
    except EngineError as exc:
        result.error = watchdog.reason and f"Dump {watchdog.reason}" or str(exc)
    except codecs.CompressionError as exc:
        result.error = f"Compression failed: {exc}"
    except encryption.AgeError as exc:
        result.error = f"Encryption failed: {exc}"
    except BaseException:
        _abort_all(stream, sinks)
        watchdog.stop()
        raise
    finally:
        watchdog.stop()

    if result.error:
        _abort_all(stream, sinks)
    else:
        for sink in sinks:
            sink.finish(commit=True)
        for sink in sinks:
            sink.join()
        result.sha256 = digest.hexdigest()
        if on_progress is not None:
            on_progress(result.size)

    for sink in sinks:
        ok = not result.error and sink.committed and not sink.failed
        error = sink.error or ("" if ok else "Not written: the backup failed")
        result.outcomes.append(
            CopyOutcome(
                sink.key,
                sink.writer.location,
                ok,
                result.size if ok else sink.writer.size,
                error,
            )
        )
    return result


def _abort_message(reason: str, sinks: list[DestinationSink]) -> str:
    if reason == "every destination failed":
        details = "; ".join(s.error for s in sinks if s.error)
        return f"Every destination failed: {details}" if details else "Every destination failed"
    if reason == "cancelled":
        return "Backup cancelled"
    if reason.startswith("timed out"):
        return f"Dump {reason}"
    return reason[:1].upper() + reason[1:]


def _abort_all(stream: DumpStream, sinks: list[DestinationSink]) -> None:
    try:
        stream.abort()
    except Exception:
        log.exception("Aborting the dump stream failed")
    for sink in sinks:
        sink.finish(commit=False)
    for sink in sinks:
        sink.join()
