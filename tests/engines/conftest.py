"""Fixtures for the engine tests."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pymongo
import pytest

from .helpers import free_port


@pytest.fixture
def workdir(tmp_path) -> Path:
    """The private 0700 folder the pipeline hands to an engine."""
    path = tmp_path / "work"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def pg_databases(pg_server, pg_database):
    """Factory: create an empty PostgreSQL database and return its ConnectionInfo (dropped afterwards)."""
    from apps.engines.base import ConnectionInfo

    def make(prefix: str = "bm_eng") -> ConnectionInfo:
        return ConnectionInfo(
            engine="postgresql",
            host=pg_server["host"],
            port=int(pg_server["port"]),
            database_name=pg_database(prefix),
            username=pg_server["user"],
            password=pg_server["password"],
        )

    return make


@pytest.fixture
def mysql_databases(mysql_server, mysql_database):
    """Factory: create an empty MariaDB database and return its ConnectionInfo (dropped afterwards)."""
    from apps.engines.base import ConnectionInfo

    def make(prefix: str = "bm_eng") -> ConnectionInfo:
        return ConnectionInfo(
            engine="mysql",
            host=mysql_server["host"],
            port=int(mysql_server["port"]),
            database_name=mysql_database(prefix),
            username=mysql_server["user"],
            password=mysql_server["password"],
        )

    return make


class Secantusd:
    """A throwaway secantusd-py (MongoDB wire protocol) on 127.0.0.1."""

    def __init__(self, executable: str, folder: Path):
        self.executable = executable
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str) -> None:
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - lives as long as the server
        # cwd: secantusd-py auto-discovers ./secantusd.toml; keep it away from the repository's.
        self.proc = subprocess.Popen(
            [
                self.executable,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.folder / "data"),
                *extra,
            ],
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            client = pymongo.MongoClient(
                "127.0.0.1", self.port, directConnection=True, serverSelectionTimeoutMS=300
            )
            try:
                client.admin.command("ping")
                return
            except pymongo.errors.PyMongoError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"secantusd did not start: {(self.folder / 'server.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)
            finally:
                client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _secantusd_executable() -> str:
    executable = os.environ.get("BM_TEST_SECANTUSD")
    if not executable:
        if os.environ.get("CI"):
            pytest.fail("BM_TEST_SECANTUSD is not set: bin/test must provide secantusd-py in CI")
        pytest.skip("no secantusd-py (BM_TEST_SECANTUSD; run the suite through bin/test)")
    return executable


@pytest.fixture(scope="session")
def secantusd(tmp_path_factory):
    """A secantusd without authentication for the whole session."""
    server = Secantusd(_secantusd_executable(), tmp_path_factory.mktemp("secantusd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def secantusd_auth(tmp_path_factory):
    """A secantusd with --auth and one user: (server, username, password)."""
    server = Secantusd(_secantusd_executable(), tmp_path_factory.mktemp("secantusd-auth"))
    server.start()
    username, password = "bm", "s3cret-" + uuid.uuid4().hex
    client = pymongo.MongoClient("127.0.0.1", server.port, directConnection=True)
    try:
        client.admin.command("createUser", username, pwd=password, roles=["root"])
    finally:
        client.close()
    server.stop()
    server.start("--auth")
    yield server, username, password
    server.stop()


@pytest.fixture
def mongo_databases(secantusd):
    """Factory: a fresh database name on the session's secantusd, as ConnectionInfo; dropped afterwards."""
    from apps.engines.base import ConnectionInfo

    created: list[str] = []

    def make(prefix: str = "bm_eng") -> ConnectionInfo:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        created.append(name)
        return ConnectionInfo(
            engine="mongodb",
            host="127.0.0.1",
            port=secantusd.port,
            database_name=name,
            options={"dumper": "builtin"},
        )

    yield make
    client = pymongo.MongoClient("127.0.0.1", secantusd.port, directConnection=True)
    try:
        for name in created:
            client.drop_database(name)
    finally:
        client.close()
