"""Settings for the test suite: the real settings with a throwaway data dir."""

import os
import tempfile

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("BM_DATA_DIR", tempfile.mkdtemp(prefix="bm-test-data-"))
os.environ.setdefault("BM_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("BM_SECURE_COOKIES", "false")
os.environ.setdefault("BM_HSTS_SECONDS", "0")
# The tests' SQLite sources live in temp folders (also for the workers and sites they start).
os.environ.setdefault("BM_SQLITE_ROOTS", tempfile.gettempdir())

from backupmanager.settings import *  # noqa: E402,F403
from backupmanager.settings import DATA_DIR  # noqa: E402

# The suite sets its own roots per test; this default keeps stray writes inside the temp dir.
BM_ALLOWED_ROOTS = [str(DATA_DIR / "backups")]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
