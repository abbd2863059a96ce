"""Settings for the test suite: the real settings with a throwaway data dir."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
if "BM_DATA_DIR" not in os.environ:
    # Ours: removed when this process ends (bin/test also removes its whole temp folder).
    os.environ["BM_DATA_DIR"] = tempfile.mkdtemp(prefix="bm-test-data-")
    atexit.register(shutil.rmtree, os.environ["BM_DATA_DIR"], ignore_errors=True)
# Keys missing from the environment are generated into BM_DATA_DIR, as bin/run does.
os.environ.setdefault("BM_GENERATE_KEYS", "true")
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
# Per process: each test starts with it cleared, also tests without database access.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
