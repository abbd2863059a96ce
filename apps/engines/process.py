"""Running external dump/restore tools safely: argv lists, private files, timeouts, stderr tails.

- Tools are found by name on PATH (plus optional fallback folders); a
  missing tool is an EngineError naming it.
- Secrets reach a tool only through a 0600 file in the run's workdir
  (`private_file`) or the child's environment, never argv.
- Every child runs in its own session (process group), so a timeout or an
  abort kills the tool and anything it started.
- stderr is drained by a thread that keeps only the last 64 KiB; error
  messages quote its tail with the connection's secrets masked.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from apps.common.masking import tail
from apps.engines.base import ConnectionInfo, DumpStream, EngineError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

STDERR_KEEP = 64 * 1024
MESSAGE_TAIL = 2000
FEED_CHUNK = 1024 * 1024

# Inherited variables that could silently change which server/user/password a tool uses.
_SCRUBBED_PREFIXES = ("PG", "MYSQL", "MARIADB")

# Turn a failed run's (exit status, stderr text) into a message, or None for the generic one.
Describe = Callable[[int | None, str], str | None]


def find_tool(names: Sequence[str], *, fallback_globs: Iterable[str] = (), hint: str) -> str:
    """Return the path of the first of `names` on PATH, else the newest match of `fallback_globs`.

    Raises EngineError("<name> not found: <hint>") when none exists.
    """
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    candidates: list[str] = []
    for pattern in fallback_globs:
        candidates.extend(p for p in glob.glob(pattern) if os.access(p, os.X_OK))
    if candidates:
        return max(candidates, key=_version_key)
    raise EngineError(f"{names[0]} not found: {hint}")


def _version_key(path: str) -> tuple[tuple[int, tuple[int, ...] | str], ...]:
    """Sort /usr/lib/postgresql/9.6/bin/x before /usr/lib/postgresql/16/bin/x."""
    parts: list[tuple[int, tuple[int, ...] | str]] = []
    for piece in Path(path).parts:
        try:
            parts.append((1, tuple(int(n) for n in piece.split("."))))
        except ValueError:
            parts.append((0, piece))
    return tuple(parts)


def private_file(workdir: Path, prefix: str, content: str, suffix: str = "") -> Path:
    """Create a new 0600 file in workdir holding `content` (never an existing file, never a symlink)."""
    workdir = Path(workdir)
    for attempt in range(100):
        path = workdir / f"{prefix}{os.getpid()}-{threading.get_ident()}-{attempt}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        return path
    raise EngineError(f"cannot create a private file in {workdir}")


def remove_files(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a tool: ours without PG*/MYSQL* settings, English messages, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.pop("LC_ALL", None)
    env["LC_MESSAGES"] = "C"  # error detection matches the tools' English messages
    env.update(extra or {})
    return env


class OutputTail:
    """Drain a pipe in a thread, keeping only its last `keep` bytes."""

    def __init__(self, pipe: IO[bytes], keep: int = STDERR_KEEP):
        self._pipe = pipe
        self._keep = keep
        self._buf = bytearray()
        self._thread = threading.Thread(target=self._run, name="engine-stderr", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (
                chunk := self._pipe.read1(65536) if hasattr(self._pipe, "read1") else self._pipe.read(65536)
            ):
                self._buf += chunk
                if len(self._buf) > 2 * self._keep:
                    del self._buf[: -self._keep]
        except (OSError, ValueError):
            pass
        finally:
            try:
                self._pipe.close()
            except OSError:
                pass

    def text(self, timeout: float = 5) -> str:
        self._thread.join(timeout)
        return bytes(self._buf[-self._keep :]).decode("utf-8", errors="replace")


class _Child:
    """A tool process in its own session, with a watchdog that kills it after `timeout` seconds."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        tool: str,
        timeout: float,
        env: Mapping[str, str],
        stdin: int | None,
        data_out: bool,
    ) -> None:
        """data_out: stdout is the data (a dump); otherwise stdout and stderr are merged into the tail."""
        self.tool = tool
        self.timeout = timeout
        self.timed_out = False
        self._killed = threading.Lock()
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if data_out else subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                close_fds=True,
            )
        except FileNotFoundError as exc:
            raise EngineError(f"{tool} not found: {exc.filename or argv[0]}") from None
        except OSError as exc:
            raise EngineError(f"{tool} could not be started: {exc.strerror or exc}") from None
        out = self.proc.stderr if data_out else self.proc.stdout
        self.output = OutputTail(_pipe(out))
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expire(self) -> None:
        self.timed_out = True
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group, unless the tool has already been reaped."""
        with self._killed:
            if self.proc.returncode is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def wait(self) -> int:
        rc = self.proc.wait()
        self._watchdog.cancel()
        return rc

    def error(self, conn: ConnectionInfo, rc: int | None, describe: Describe | None) -> EngineError:
        text = conn.mask(self.output.text())
        if self.timed_out:
            detail = tail(text, MESSAGE_TAIL)
            return EngineError(
                f"{self.tool} timed out after {self.timeout:g} s" + (f": {detail}" if detail else "")
            )
        message = describe(rc, text) if describe else None
        if message is None:
            status = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit status {rc}"
            detail = tail(text, MESSAGE_TAIL) or "no error output"
            message = f"{self.tool} failed ({status}): {detail}"
        return EngineError(conn.mask(message))


class ProcessDumpStream(DumpStream):
    """A dump tool's stdout as a DumpStream (see base.DumpStream for the contract)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        tool: str,
        conn: ConnectionInfo,
        timeout: float,
        extension: str,
        env: Mapping[str, str] | None = None,
        cleanup: Iterable[Path] = (),
        describe: Describe | None = None,
    ):
        self.extension = extension
        self._conn = conn
        self._cleanup = list(cleanup)
        self._describe = describe
        self._eof = False
        self._done = False
        try:
            self._child = _Child(
                argv,
                tool=tool,
                timeout=timeout,
                env=child_env(env),
                stdin=subprocess.DEVNULL,
                data_out=True,
            )
        except BaseException:
            remove_files(self._cleanup)
            raise

    @property
    def pid(self) -> int:
        return self._child.proc.pid

    def read(self, size: int) -> bytes:
        if self._done or self._eof:
            return b""
        try:
            data = _pipe(self._child.proc.stdout).read(size)
        except (OSError, ValueError):
            data = b""
        if not data:
            self._eof = True
        return data

    def finish(self) -> None:
        """Wait for the tool; raise EngineError unless it exited 0 after all its output was read."""
        if self._done:
            return
        child = self._child
        unread = not self._eof and self.read(1) != b""
        if unread:
            self.abort()
            raise EngineError(f"{child.tool}: finish() called before the dump was read to the end")
        try:
            rc = child.wait()
        finally:
            self._close()
        if rc != 0 or child.timed_out:
            raise child.error(self._conn, rc, self._describe)

    def abort(self) -> None:
        """Kill the tool and its process group at once; remove temp files. Idempotent."""
        if self._done:
            return
        self._child.kill()
        try:
            self._child.wait()
        finally:
            self._close()

    def _close(self) -> None:
        self._done = True
        self._child._watchdog.cancel()
        if self._child.proc.stdout:
            try:
                self._child.proc.stdout.close()
            except OSError:
                pass
        self._child.output.text()
        remove_files(self._cleanup)


def _pipe(pipe: IO[bytes] | None) -> IO[bytes]:
    """A pipe Popen was asked to create (subprocess types them all as optional)."""
    if pipe is None:
        raise RuntimeError("the child process has no such pipe")
    return pipe


class Cancelled(Exception):
    """Raised inside a producer thread when its ThreadDumpStream was aborted or timed out."""


class ThreadDumpStream(DumpStream):
    """A dump produced by Python code in a thread, streamed through an os.pipe.

    `produce(write)` writes the dump by calling `write(bytes)`; the pipe
    applies back-pressure, so memory stays constant. A watchdog cancels the
    producer after `timeout` seconds (its next write raises Cancelled);
    `on_cancel` is also called then, e.g. to close a client it is blocked on.
    `describe(exc)` turns a producer exception into a message (or None).
    """

    def __init__(
        self,
        produce: Callable[[Callable[[ReadableBuffer], None]], None],
        *,
        tool: str,
        conn: ConnectionInfo,
        timeout: float,
        extension: str,
        on_cancel: Callable[[], None] | None = None,
        describe: Callable[[BaseException], str | None] | None = None,
    ):
        self.extension = extension
        self._tool = tool
        self._conn = conn
        self._timeout = timeout
        self._produce = produce
        self._on_cancel = on_cancel
        self._describe = describe
        self._cancel = threading.Event()
        self._timed_out = False
        self._error: BaseException | None = None
        self._eof = False
        self._done = False
        r, w = os.pipe()
        self._reader = os.fdopen(r, "rb", buffering=FEED_CHUNK)
        self._writer = os.fdopen(w, "wb", buffering=FEED_CHUNK)
        self._thread = threading.Thread(target=self._run, name=f"dump: {tool}", daemon=True)
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._thread.start()
        self._watchdog.start()

    def _write(self, data: ReadableBuffer) -> None:
        if self._cancel.is_set():
            raise Cancelled
        self._writer.write(data)

    def _run(self) -> None:
        try:
            self._produce(self._write)
            self._writer.flush()
        except BaseException as exc:  # reported by finish()
            self._error = exc
        finally:
            try:
                self._writer.close()
            except OSError:
                pass  # the reader is gone (abort): nothing to flush to

    def _expire(self) -> None:
        self._timed_out = True
        self._stop()

    def _stop(self) -> None:
        self._cancel.set()
        if self._on_cancel is not None:
            try:
                self._on_cancel()
            except Exception:  # noqa: BLE001 - best effort while cancelling
                pass

    def read(self, size: int) -> bytes:
        if self._done or self._eof:
            return b""
        data = self._reader.read(size)
        if not data:
            self._eof = True
        return data

    def finish(self) -> None:
        if self._done:
            return
        if not self._eof and self.read(1) != b"":
            self.abort()
            raise EngineError(f"{self._tool}: finish() called before the dump was read to the end")
        self._thread.join()
        self._close()
        if self._timed_out:
            raise EngineError(f"{self._tool} timed out after {self._timeout:g} s")
        if self._error is not None:
            message = self._describe(self._error) if self._describe else None
            raise EngineError(self._conn.mask(message or f"{self._tool} failed: {self._error}"))

    def abort(self) -> None:
        if self._done:
            return
        self._stop()
        self._close()
        self._thread.join(10)

    def _close(self) -> None:
        self._done = True
        self._watchdog.cancel()
        try:
            self._reader.close()  # a producer blocked on a full pipe gets EPIPE
        except OSError:
            pass
