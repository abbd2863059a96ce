"""Real S3 and SFTP servers on 127.0.0.1 for the destination tests.

- moto's standalone S3 server (`moto_server`, installed by bin/test into .venv-moto),
- OpenSSH's sshd (Debian openssh-server, installed by bin/test) with its own
  host key, config, authorized key and internal-sftp, in a folder of the test run.

Both are started once per test session and stopped at its end; nothing is
exported to the environment. A test that must stop a server gets its own.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

REPO = Path(__file__).resolve().parents[2]
MOTO_SERVER = REPO / ".venv-moto" / "bin" / "moto_server"
SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- S3 (moto) -----------------------------------------------------------------------


class MotoServer:
    """A moto_server process on its own port; stop() ends it (its data is in memory)."""

    def __init__(self, log: Path) -> None:
        if not MOTO_SERVER.exists():
            pytest.fail(f"{MOTO_SERVER} is missing: bin/test installs moto[server] into .venv-moto")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc, "moto_server")
        deadline = time.monotonic() + 20
        while True:  # the port opens before the app answers
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        stop(self.proc)
        self._log.close()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access-key",
        aws_secret_access_key="test-secret-key",
        config=Config(request_checksum_calculation="when_required", s3={"addressing_style": "path"}),
    )


_bucket_seq = iter(range(1, 1_000_000))


@pytest.fixture
def s3(moto_server):
    """A fresh bucket on the session's moto server: .client, .endpoint, .bucket, .destination(**fields)."""
    client = s3_client(moto_server.endpoint)
    bucket = f"bm-test-{os.getpid()}-{next(_bucket_seq)}"
    client.create_bucket(Bucket=bucket)

    def destination(**fields):
        values = {
            "kind": "s3",
            "endpoint_url": moto_server.endpoint,
            "region": "us-east-1",
            "bucket": bucket,
            "prefix": "backups/shop",
            "access_key_id": "test-access-key",
            "secret_access_key": "s3cr3t-Value-Never-Shown",
            "path_style": True,
            "lock_mode": None,
            "lock_days": None,
        }
        values.update(fields)
        return SimpleNamespace(**values)

    return SimpleNamespace(
        client=client, endpoint=moto_server.endpoint, bucket=bucket, destination=destination
    )


# -- SFTP (OpenSSH) ------------------------------------------------------------------


def ed25519_pair() -> tuple[str, str]:
    """(OpenSSH private key text, public key line) of a throwaway Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


class SSHServer:
    """sshd -D with its own host key, config and authorized key; key login for the current user."""

    def __init__(self, folder: Path, host_key: tuple[str, str] | None = None) -> None:
        if not os.access(SSHD, os.X_OK):
            pytest.fail(f"{SSHD} is missing: bin/test installs openssh-server")
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
        self.folder = folder
        self.host_private, self.host_public = host_key or ed25519_pair()
        host_key_file = folder / "ssh_host_ed25519_key"
        host_key_file.write_text(self.host_private)
        os.chmod(host_key_file, 0o600)
        self.client_private, self.client_public = ed25519_pair()
        (folder / "authorized_keys").write_text(self.client_public + "\n")
        os.chmod(folder / "authorized_keys", 0o600)
        self.remote = folder / "remote"
        self.remote.mkdir(exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        config = folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key_file}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    f"PidFile {folder / 'sshd.pid'}",
                    "UsePAM no",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {self.user}",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self._log = open(folder / "sshd.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc, "sshd")

    def stop(self) -> None:
        stop(self.proc)
        self._log.close()


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


_folder_seq = iter(range(1, 1_000_000))


@pytest.fixture
def sftp(sshd_server):
    """A fresh remote folder on the session's sshd: .server, .folder, .destination(**fields)."""
    folder = sshd_server.remote / f"t{next(_folder_seq)}"

    def destination(**fields):
        values = {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": sshd_server.port,
            "username": sshd_server.user,
            "password": "",
            "private_key": sshd_server.client_private,
            "host_key": sshd_server.host_public,
            "path": str(folder),
        }
        values.update(fields)
        return SimpleNamespace(**values)

    yield SimpleNamespace(server=sshd_server, folder=folder, destination=destination)
    shutil.rmtree(folder, ignore_errors=True)
