"""deploy/: the nginx site file passes `nginx -t`, the systemd units pass `systemd-analyze verify`."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        pytest.skip("nginx is not installed (bin/test installs it with its apt packages)")
    return found


def test_the_example_nginx_site_passes_nginx_t(tmp_path):
    nginx = _nginx()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=backups.example.com", "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/backups.example.com/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/backups.example.com/privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site)
    # A main file as Debian's, around the site file: nothing of the machine's nginx is used.
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    out = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "syntax is ok" in out.stderr and "test is successful" in out.stderr
    assert "[warn]" not in out.stderr and "[emerg]" not in out.stderr, out.stderr


def test_the_nginx_site_overwrites_the_forwarded_headers_the_app_trusts():
    site = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "proxy_set_header X-Forwarded-Host $host;" in site
    assert "$proxy_add_x_forwarded_for" not in site  # appending would keep a client's forged value


@pytest.mark.parametrize("unit", ["backupmanager-web.service", "backupmanager-worker.service"])
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path, unit):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed on this machine")
    text = (DEPLOY / unit).read_text()
    assert "/opt/backupmanager/.venv/bin/" in text
    # Pointed at this checkout (its .venv has gunicorn), with the env file optional here.
    text = text.replace("/opt/backupmanager", str(ROOT)).replace(
        "EnvironmentFile=/etc/backupmanager/env", "EnvironmentFile=-/etc/backupmanager/env"
    )
    (tmp_path / unit).write_text(text)
    out = subprocess.run(
        [analyze, "verify", str(tmp_path / unit)], capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0 and "Failed to" in out.stderr and "bus" in out.stderr.lower():
        pytest.skip(f"systemd-analyze verify cannot run here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr  # unknown keys are only warned about
