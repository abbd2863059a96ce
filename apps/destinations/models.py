"""Where a database's backups are written."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.common.fields import EncryptedTextField
from apps.destinations.paths import validate_local_path
from apps.destinations.storage.sftp_keys import HostKeyError, parse_host_key, parse_private_key
from apps.groups import locations

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")


class Destination(models.Model):
    """One place a database's backups go: a local folder, an S3-compatible bucket or an SFTP server."""

    class Kind(models.TextChoices):
        LOCAL = "local", "Local folder"
        S3 = "s3", "S3-compatible"
        SFTP = "sftp", "SFTP server"

    class LockMode(models.TextChoices):
        GOVERNANCE = "governance", "Governance"
        COMPLIANCE = "compliance", "Compliance"

    # Secrets per kind, and the fields naming where they are sent: when one of
    # those changes, a stored secret must be entered again (never reused).
    SECRET_FIELDS = {"s3": ("secret_access_key",), "sftp": ("password", "private_key")}
    TARGET_FIELDS = {"s3": ("kind", "endpoint_url", "bucket"), "sftp": ("kind", "host", "port", "username")}

    database = models.ForeignKey("databases.Database", on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOCAL)
    enabled = models.BooleanField(default=True)
    # local: the folder; sftp: the remote folder (absolute).
    path = models.CharField(max_length=4096, blank=True, default="")
    # s3
    endpoint_url = models.CharField(max_length=1024, blank=True, default="")
    region = models.CharField(max_length=64, blank=True, default="")
    bucket = models.CharField(max_length=255, blank=True, default="")
    prefix = models.CharField(max_length=1024, blank=True, default="")
    access_key_id = models.CharField(max_length=255, blank=True, default="")
    secret_access_key = EncryptedTextField(blank=True, default="")
    path_style = models.BooleanField(default=False)
    # null, not "": the API's contract says lock_mode is null when Object Lock is off.
    lock_mode = models.CharField(  # noqa: DJ001
        max_length=10, choices=LockMode.choices, null=True, blank=True, default=None
    )
    lock_days = models.PositiveIntegerField(null=True, blank=True)
    # sftp
    host = models.CharField(max_length=255, blank=True, default="")
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    username = models.CharField(max_length=255, blank=True, default="")
    password = EncryptedTextField(blank=True, default="")
    private_key = EncryptedTextField(blank=True, default="")
    host_key = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["database_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["database", "name"], name="destination_db_name_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.where})"

    # -- secrets -----------------------------------------------------------

    def enter_secret(self, name: str, value: str) -> None:
        """Set a secret as typed by a person now (an empty value clears it).

        Doors call this only for a secret that was given; a secret that was
        not entered keeps its stored value, which clean() refuses to reuse
        once the place it is sent to changes.
        """
        if name not in {f for group in self.SECRET_FIELDS.values() for f in group}:
            raise ValueError(f"{name} is not a secret field")
        setattr(self, name, value or "")
        self.__dict__.setdefault("_entered", set()).add(name)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_access_key)

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    @property
    def has_private_key(self) -> bool:
        return bool(self.private_key)

    def target_changes(self) -> list[str]:
        """The fields naming where this destination's secrets go that differ from the stored row."""
        fields = self.TARGET_FIELDS.get(self.kind, ())
        if not self.pk or not fields:
            return []
        stored = type(self).objects.filter(pk=self.pk).values(*fields).first()
        if stored is None:
            return []
        return [f for f in fields if stored[f] != getattr(self, f)]

    def reused_secrets(self) -> list[str]:
        """Stored secrets that would go to a new place without having been entered again."""
        changed = self.target_changes()
        if not changed:
            return []
        entered = self.__dict__.get("_entered", set())
        return [f for f in self.SECRET_FIELDS.get(self.kind, ()) if getattr(self, f) and f not in entered]

    @property
    def allowed_folders(self) -> list[str]:
        """The backup folders of the database's group: a local writer writes nowhere else."""
        return locations.folders(self.database.group_id, locations.BACKUPS)

    @property
    def where(self) -> str:
        if self.kind == self.Kind.S3:
            return f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")
        if self.kind == self.Kind.SFTP:
            return f"sftp://{self.username}@{self.host}:{self.port or 22}{self.path}"
        return self.path

    # -- validation --------------------------------------------------------

    def clean(self):
        super().clean()
        errors: dict[str, list[str]] = {}

        def error(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if self.kind == self.Kind.LOCAL:
            if not self.path:
                error("path", "Enter the folder backups are written to.")
            elif self.database_id is not None:
                # The one rule for every door: a folder of the database's group (apps.groups.locations).
                check = validate_local_path(self.path, self.database.group_id)
                if not check.valid:
                    error("path", check.message)
        elif self.kind == self.Kind.S3:
            self._clean_s3(error)
        elif self.kind == self.Kind.SFTP:
            self._clean_sftp(error)
        self._drop_other_kinds_settings()
        reused = self.reused_secrets()
        if reused:
            changed = ", ".join(f for f in self.target_changes() if f != "kind") or "kind"
            for field in reused:
                label = self._meta.get_field(field).verbose_name
                error(
                    field,
                    f"The {changed} changed: enter the {label} again. A stored secret is never sent to "
                    "a new place.",
                )
        if errors:
            raise ValidationError(errors)

    def _clean_s3(self, error) -> None:
        self.endpoint_url = (self.endpoint_url or "").strip().rstrip("/")
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                error("endpoint_url", "Enter an http:// or https:// URL, or leave it empty for AWS.")
            elif parts.username or parts.password or parts.query or parts.fragment:
                error("endpoint_url", "The endpoint URL must not carry a user, password, query or fragment.")
            else:
                try:
                    parts.port  # noqa: B018 - raises ValueError for a bad port
                except ValueError:
                    error("endpoint_url", "The endpoint URL has an invalid port.")
        self.bucket = (self.bucket or "").strip()
        if not self.bucket:
            error("bucket", "Enter the bucket name.")
        elif not _BUCKET.match(self.bucket) or ".." in self.bucket or _is_ip(self.bucket):
            error(
                "bucket",
                "A bucket name has 3-63 lowercase letters, digits, dots or hyphens, starts and ends "
                "with a letter or digit, and is not an IP address.",
            )
        self.prefix = (self.prefix or "").strip().strip("/")
        if "\\" in self.prefix or any(
            seg in ("", ".", "..") for seg in self.prefix.split("/") if self.prefix
        ):
            error(
                "prefix",
                "The prefix is a folder-like path such as backups/shop, without “..” or empty parts.",
            )
        self.region = (self.region or "").strip()
        if self.region and not re.fullmatch(r"[a-z0-9-]{1,64}", self.region):
            error("region", "A region looks like eu-west-1 (lowercase letters, digits, hyphens).")
        self.access_key_id = (self.access_key_id or "").strip()
        if not self.access_key_id:
            error("access_key_id", "Enter the access key ID.")
        if not self.secret_access_key:
            error("secret_access_key", "Enter the secret access key.")
        self.lock_mode = self.lock_mode or None
        if self.lock_mode and not self.lock_days:
            error("lock_days", "Object Lock needs the number of days to keep each backup (1 or more).")
        if self.lock_days is not None and not self.lock_mode:
            error("lock_days", "Days of Object Lock need a lock mode (governance or compliance).")

    def _clean_sftp(self, error) -> None:
        self.host = (self.host or "").strip()
        if not self.host:
            error("host", "Enter the SFTP server's host name or IP address.")
        elif not (_HOST.match(self.host) or _is_ip(self.host)):
            error("host", "Enter a host name or an IP address (no user, port or path).")
        if self.port is None:
            self.port = 22
        elif not 1 <= self.port <= 65535:
            error("port", "A port is between 1 and 65535.")
        self.username = (self.username or "").strip()
        if not self.username:
            error("username", "Enter the user name to log in with.")
        elif not _USER.match(self.username):
            error("username", "A user name has letters, digits, dots, underscores or hyphens.")
        if not self.password and not self.private_key:
            error("password", "Enter a password or a private key.")
        if self.private_key:
            try:
                parse_private_key(self.private_key)
            except ValueError as exc:
                error("private_key", str(exc))
        if not (self.host_key or "").strip():
            error("host_key", "Scan the server's host key and confirm its fingerprint.")
        else:
            try:
                self.host_key, _ = parse_host_key(self.host_key)
            except HostKeyError as exc:
                error("host_key", str(exc))
        path = (self.path or "").strip()
        if not path.startswith("/"):
            error("path", "Enter the absolute folder on the server, e.g. /home/backup/shop.")
        elif ".." in path.split("/") or "\x00" in path:
            error("path", "The folder must not contain “..”.")
        else:
            self.path = posixpath.normpath(path)

    def _drop_other_kinds_settings(self) -> None:
        """A destination keeps the secrets of its own kind only."""
        for kind, fields in self.SECRET_FIELDS.items():
            if kind != self.kind:
                for field in fields:
                    setattr(self, field, "")
        if self.kind != self.Kind.S3:
            self.lock_mode, self.lock_days = None, None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
