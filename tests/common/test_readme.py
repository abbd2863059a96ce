"""The README's commands work as written, from a fresh copy of the repository.

Every command of the README's ```bash blocks runs in a plain shell (bash, no variable of this
suite) in a copy of the repository without .venv or var/ (bin/run creates them, as on a fresh
clone), in order; the test fails on the first that does not work. A command that starts the
servers (`bin/run ...`) runs in the background until /health says the web server and the
worker are up, then gets Ctrl-C (SIGINT) and must stop. It listens on a free port (BM_BIND)
instead of 8000, which may be taken on a shared machine. The only commands not run are in
NOT_RUN below, each with the reason.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Commands of the README not run here, and why. Nothing else may be skipped.
NOT_RUN = {
    # It runs the whole suite, this test included: running it here would recurse. CI runs it.
    "bin/test": "runs this very test (recursion); CI runs it as .ci/run",
    # "Disaster recovery" (by hand, with standard tools): these need a bucket with a backup in it
    # (an external service) and the files fetched from it; tests/backups/test_pipeline_encryption.py
    # restores an encrypted backup exactly this way.
    "aws s3 cp s3://BUCKET/PREFIX/shop_20261201T020000Z_42.dump.zst.age .": "needs an S3 bucket",
    "aws s3 cp s3://BUCKET/PREFIX/shop_20261201T020000Z_42.dump.zst.age.manifest.json .": "needs an S3 bucket",
    "sha256sum shop_20261201T020000Z_42.dump.zst.age": "needs the file fetched from the bucket",
    "age -d -i key.txt shop_20261201T020000Z_42.dump.zst.age | zstd -d | pg_restore --clean --if-exists "
    '--no-owner --dbname "$TARGET_URL"': "needs the fetched file, its key and a PostgreSQL server",
}


def readme_commands(text: str) -> list[str]:
    """The commands of the ```bash blocks: comments dropped, continued lines joined."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        pending = ""
        for raw in block.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            # A comment after the command ("bin/run   # install ..."): not part of it.
            line = re.sub(r"\s+#\s.*$", "", line)
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            commands.append((pending + line).strip())
            pending = ""
    return commands


def test_the_readme_has_commands_and_starts_with_bin_run_and_bin_test():
    commands = readme_commands((ROOT / "README.md").read_text())
    assert commands[:2] == ["bin/run", "bin/test"]
    assert not any("python manage.py" in c or ".venv/bin/python manage.py" in c for c in commands)
    assert set(NOT_RUN) <= set(commands), set(NOT_RUN) - set(commands)  # no stale exception


def _fresh_copy(dest: Path) -> None:
    """What a clone has: the files git knows (as they are now), no .venv, no var/."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        source = ROOT / name
        if not source.is_file() or name.startswith((".venv", "var/")):
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_servers(command: str, cwd: Path, env: dict, log: Path, port: int) -> None:
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline, health = time.monotonic() + 600, None  # the first bin/run creates .venv
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    health = json.load(response)
                if health["status"] == "ok" and health["scheduler"]["status"] == "ok":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert health and health["scheduler"]["status"] == "ok", f"`{command}`:\n{log.read_text()}"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in its terminal
        assert proc.wait(60) in (130, 0), f"`{command}` did not stop on Ctrl-C:\n{log.read_text()}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="the walk uses its own fresh copy and data folder: the SQLite pass of bin/test runs it once",
)
def test_every_command_of_the_readme_works_as_written_in_a_fresh_copy(tmp_path):
    copy = tmp_path / "backupmanager"
    _fresh_copy(copy)
    port = _free_port()
    # A user's plain shell: none of this suite's variables.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("BM_", "DJANGO_", "DATABASE_URL", "SECRET_KEY", "DEBUG", "PYTEST", "VIRTUAL_ENV")
        )
    }
    env["BM_BIND"] = f"127.0.0.1:{port}"
    ran = []
    for number, command in enumerate(readme_commands((copy / "README.md").read_text()), 1):
        if command in NOT_RUN:
            continue
        log = tmp_path / f"command-{number}.log"
        if re.match(r"bin/run(\s|$)", command):
            _run_servers(command, copy, env, log, port)
        else:
            out = subprocess.run(
                ["bash", "-c", command], cwd=copy, env=env, capture_output=True, text=True, timeout=600
            )
            assert out.returncode == 0, (
                f"README command {number} failed: `{command}`\n{out.stdout}\n{out.stderr}"
            )
        ran.append(command)
    assert "bin/run" in ran and any(c.startswith("bin/manage") for c in ran)
    # The walk left its data in the copy's var/, private.
    assert (copy / "var" / "metadata.sqlite3").stat().st_mode & 0o077 == 0
