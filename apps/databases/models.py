"""Registered databases and their (encrypted) credentials."""

from __future__ import annotations

import os
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.text import slugify

from apps.common.fields import EncryptedTextField
from apps.common.querysets import GroupScopedQuerySet
from apps.engines import ENGINE_CHOICES, ENGINES, ConnectionInfo
from apps.engines.sqlite import path_problem as sqlite_path_problem
from apps.groups import locations
from apps.keys.models import GroupKey

KEY_OF_ANOTHER_GROUP = "Choose an encryption key of the database's own group."

# The only options an engine reads (apps/engines); each a short value, never a file on this server.
OPTION_CHOICES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "postgresql": {"sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")},
    "mysql": {},
    "mongodb": {"auth_source": None, "dumper": ("auto", "mongodump", "builtin")},
    "sqlite": {},
}
_OPTION_TEXT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class DatabaseQuerySet(GroupScopedQuerySet):
    group_path = "group"


class Database(models.Model):
    """A database to back up: engine, where it is, and how to log in."""

    class Compression(models.TextChoices):
        NONE = "none", "None"
        GZIP = "gzip", "gzip"
        ZSTD = "zstd", "zstd"

    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="databases")
    name = models.CharField(max_length=100)
    engine = models.CharField(max_length=20, choices=ENGINE_CHOICES)
    host = models.CharField(max_length=255, blank=True, default="")
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    database_name = models.CharField(max_length=1024)
    username = models.CharField(max_length=255, blank=True, default="")
    password = EncryptedTextField(blank=True, default="")
    options = models.JSONField(default=dict, blank=True)
    compression = models.CharField(max_length=10, choices=Compression.choices, default=Compression.ZSTD)
    timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per-database limit for one backup or restore run."
    )
    encryption_key = models.ForeignKey(
        GroupKey,
        null=True,
        blank=True,
        # RESTRICT, not PROTECT: a key in use cannot be deleted, but deleting the group
        # (which deletes its databases too) still can.
        on_delete=models.RESTRICT,
        related_name="databases",
        help_text="Backups are encrypted with age to this key; empty stores them unencrypted.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DatabaseQuerySet.as_manager()

    # The fields naming where the password is sent: when one changes, a stored password must be
    # entered again (it is never sent to a new place).
    TARGET_FIELDS = ("engine", "host", "port", "username")

    class Meta:
        ordering = ["name"]
        constraints = [
            # Names are unique per group whatever their case ("Shop" and "shop" would be one
            # database to a person); also serves the name lookups of the pages and the API.
            models.UniqueConstraint(Lower("name"), "group", name="database_group_lower_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The connection fields follow the engine; the encryption key, if any, is of the database's group.

        SQLite: an absolute file path in one of the group's SQLite folders (apps.groups.locations;
        never the metadata database nor a backup folder), and no host, port, user or password. Network engines: a host, and the
        engine's default port when none is given. The one check for the page, the API and the admin.
        """
        super().clean()
        errors = self._settle_connection()
        if problem := self._options_problem():
            errors.setdefault("options", []).append(problem)
        if self.reused_password():
            changed = ", ".join(self.target_changes())
            errors.setdefault("password", []).append(
                f"The {changed} changed: enter the password again. A stored password is never sent to "
                "a new place."
            )
        if self.encryption_key_id is not None and self.group_id is not None:
            other = GroupKey.objects.filter(pk=self.encryption_key_id).exclude(group_id=self.group_id)
            if other.exists():
                errors["encryption_key"] = [KEY_OF_ANOTHER_GROUP]
        if errors:
            raise ValidationError(errors)

    def _settle_connection(self) -> dict[str, list[str]]:
        if self.engine not in ENGINES:
            return {}  # the field's own validation names the engine
        if self.engine == "sqlite":
            self.database_name = path = (self.database_name or "").strip()
            self.host, self.port, self.username, self.password = "", None, "", ""
            if path and not os.path.isabs(path):
                return {"database_name": ["Enter the absolute path of the SQLite file (it starts with /)."]}
            if path and self.group_id and (problem := sqlite_path_problem(path, *self.sqlite_paths())):
                return {"database_name": [problem]}
            return {}
        self.host = (self.host or "").strip()
        if not self.port:
            self.port = ENGINES[self.engine].default_port
        if not self.host:
            return {"host": ["Enter the server's host name or IP address."]}
        return {}

    def _options_problem(self) -> str | None:
        """Only the options the engine reads, each a plain word: no option may name a server file."""
        if self.engine not in OPTION_CHOICES:
            return None
        if not isinstance(self.options, dict):
            return "Options are a JSON object."
        known = OPTION_CHOICES[self.engine]
        for key, value in self.options.items():
            if key not in known:
                allowed = ", ".join(sorted(known)) or "none"
                return f"Unknown option “{key}” for {self.get_engine_display()} (allowed: {allowed})."
            choices = known[key]
            if not isinstance(value, str) or not _OPTION_TEXT.match(value):
                return f"The option “{key}” takes a short word (letters, digits, . _ -)."
            if choices is not None and value not in choices:
                return f"The option “{key}” is one of: {', '.join(choices)}."
        return None

    # -- the stored password -----------------------------------------------

    def enter_secret(self, name: str, value: str) -> None:
        """Set the password as typed by a person now (an empty value clears it).

        Doors call this only for a password that was given; one that was not entered keeps
        its stored value, which clean() refuses to reuse once the place it goes to changes.
        """
        if name != "password":
            raise ValueError(f"{name} is not a secret field")
        self.password = value or ""
        self.__dict__.setdefault("_entered", set()).add(name)

    def target_changes(self) -> list[str]:
        """The fields naming where the password goes that differ from the stored row."""
        if not self.pk:
            return []
        stored = type(self).objects.filter(pk=self.pk).values(*self.TARGET_FIELDS).first()
        if stored is None:
            return []
        return [f for f in self.TARGET_FIELDS if stored[f] != getattr(self, f)]

    def reused_password(self) -> bool:
        """True when the stored password would go to a new place without having been entered again."""
        if not self.password or "password" in self.__dict__.get("_entered", set()):
            return False
        return bool(self.target_changes())

    def validate_constraints(self, exclude=None):
        """The constraints, with the name clash reported on the name field and naming the other database."""
        exclude = set(exclude or ())
        errors = {}
        if "name" not in exclude and "group" not in exclude and self.group_id and self.name:
            clash = Database.objects.filter(group_id=self.group_id, name__iexact=self.name).exclude(
                pk=self.pk
            )
            other = clash.values_list("name", flat=True).first()
            if other is not None:
                errors["name"] = [f"This group already has a database named “{other}”."]
                exclude.add("name")
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    @property
    def slug(self) -> str:
        return slugify(self.name) or f"database-{self.pk}"

    def sqlite_paths(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The folders this database's group may use for SQLite files, and the paths never used."""
        allowed = tuple(locations.folders(self.group_id, locations.SQLITE, create=True))
        forbidden = list(locations.all_backup_folders())
        metadata = settings.DATABASES["default"]
        if metadata["ENGINE"].endswith("sqlite3") and str(metadata["NAME"]) != ":memory:":
            forbidden.append(os.path.realpath(str(metadata["NAME"])))
        return allowed, tuple(forbidden)

    def connection_info(self) -> ConnectionInfo:
        """Return what the engines need to reach this database (for SQLite: its group's folders)."""
        allowed, forbidden = self.sqlite_paths() if self.engine == "sqlite" else ((), ())
        return ConnectionInfo(
            engine=self.engine,
            host=self.host,
            port=self.port,
            database_name=self.database_name,
            username=self.username,
            password=self.password or "",
            options=dict(self.options or {}),
            allowed_folders=allowed,
            forbidden_paths=forbidden,
        )
