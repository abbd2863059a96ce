"""Feeding restore tools: streaming a backup into a tool's stdin, or through a producer into a consumer.

Built on the child-process plumbing in apps.engines.process (sessions,
watchdogs, stderr tails, scrubbed environments).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from apps.engines.base import ConnectionInfo, EngineError, Readable
from apps.engines.process import FEED_CHUNK, Describe, _Child, _pipe, child_env


def run_with_stdin(
    argv: Sequence[str],
    source: Readable,
    *,
    tool: str,
    conn: ConnectionInfo,
    timeout: float,
    env: Mapping[str, str] | None = None,
    describe: Describe | None = None,
    failed: Callable[[str], bool] | None = None,
) -> str:
    """Run a restore tool, streaming `source` into its stdin in 1 MiB chunks; return its output.

    The caller's thread feeds stdin while a thread drains the tool's merged
    stdout/stderr, so memory stays constant. Raises EngineError when the tool
    exits non-zero, times out, or `failed(output)` says its output reports
    an error. If reading `source` raises, the tool is killed before its
    stdin is closed (a clean EOF could let it commit a partial restore) and
    the exception propagates.
    """
    child = _Child(
        argv,
        tool=tool,
        timeout=timeout,
        env=child_env(env),
        stdin=subprocess.PIPE,
        data_out=False,
    )
    stdin = _pipe(child.proc.stdin)
    try:
        while chunk := source.read(FEED_CHUNK):
            try:
                stdin.write(chunk)
            except (BrokenPipeError, ValueError, OSError):
                break  # the tool stopped reading: its exit status and output say why
    except BaseException:
        child.kill()
        _close_quietly(stdin)
        child.wait()
        child.output.text()
        raise
    _close_quietly(stdin)
    rc = child.wait()
    output = conn.mask(child.output.text())
    if child.timed_out or rc != 0 or (failed is not None and failed(output)):
        raise child.error(conn, rc, describe)
    return output


def _close_quietly(pipe: IO[bytes]) -> None:
    try:
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def run_through(
    producer_argv: Sequence[str],
    consumer_argv: Sequence[str],
    source: Readable,
    *,
    prelude: bytes = b"",
    producer_tool: str,
    consumer_tool: str,
    conn: ConnectionInfo,
    timeout: float,
    env: Mapping[str, str] | None = None,
    describe: Describe | None = None,
    failed: Callable[[str], bool] | None = None,
) -> str:
    """`source` → the producer's stdin; `prelude`, then the producer's stdout → the consumer's stdin.

    For a consumer that commits at the end of its input (psql --single-transaction): its stdin is
    closed only when `source` was read to its very end, the producer exited 0 and everything was
    relayed. On anything else the consumer is killed first, so it never sees an end of input (and
    commits nothing). Returns the consumer's output; raises EngineError like run_with_stdin, and
    re-raises what reading `source` raised.
    """
    consumer = _Child(
        consumer_argv,
        tool=consumer_tool,
        timeout=timeout,
        env=child_env(env),
        stdin=subprocess.PIPE,
        data_out=False,
    )
    consumer_in = _pipe(consumer.proc.stdin)
    try:
        producer = _Child(
            producer_argv,
            tool=producer_tool,
            timeout=timeout,
            env=child_env(env),
            stdin=subprocess.PIPE,
            data_out=True,
        )
    except BaseException:
        consumer.kill()
        _close_quietly(consumer_in)
        consumer.wait()
        raise
    relay_failed: list[BaseException] = []

    def relay() -> None:
        out = _pipe(producer.proc.stdout)
        try:
            consumer_in.write(prelude)
            while chunk := out.read1(FEED_CHUNK) if hasattr(out, "read1") else out.read(FEED_CHUNK):
                consumer_in.write(chunk)
            consumer_in.flush()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
            relay_failed.append(exc)
            producer.kill()  # nobody reads its output any more: let the feeding end now

    thread = threading.Thread(target=relay, name=f"relay: {producer_tool}", daemon=True)
    thread.start()
    producer_in = _pipe(producer.proc.stdin)

    def stop_both() -> None:
        consumer.kill()  # first: it must never see the end of its input
        producer.kill()
        _close_quietly(producer_in)
        producer.wait()
        consumer.wait()
        thread.join(10)
        _close_quietly(consumer_in)
        producer.output.text()
        consumer.output.text()

    read_to_end = False
    try:
        while chunk := source.read(FEED_CHUNK):
            try:
                producer_in.write(chunk)
            except (BrokenPipeError, ValueError, OSError):
                break  # the producer stopped reading: its exit status and output say why
        else:
            read_to_end = True
    except BaseException:
        stop_both()
        raise
    _close_quietly(producer_in)
    rc = producer.wait()
    thread.join()
    if not read_to_end or rc != 0 or producer.timed_out or relay_failed:
        stop_both()
        if relay_failed:  # the consumer stopped first (its error is the cause)
            raise consumer.error(conn, consumer.proc.returncode, describe)
        if rc != 0 or producer.timed_out:
            raise producer.error(conn, rc, describe)
        raise EngineError(f"{producer_tool} ended before reading all of its input")
    _close_quietly(consumer_in)  # the end of its input: the consumer may commit now
    crc = consumer.wait()
    output = conn.mask(consumer.output.text())
    if consumer.timed_out or crc != 0 or (failed is not None and failed(output)):
        raise consumer.error(conn, crc, describe)
    return output
