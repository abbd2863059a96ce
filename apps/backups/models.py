"""Backups, their per-destination copies, and restores."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.common.fields import EncryptedTextField
from apps.common.querysets import GroupScopedQuerySet


class Run(models.Model):
    """What backups, restores and verifications share: status, who asked, when, which worker, how far."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    TERMINAL: frozenset[str] = frozenset({Status.COMPLETED, Status.FAILED})
    ACTIVE: frozenset[str] = frozenset({Status.PENDING, Status.IN_PROGRESS})
    # Fields blanked by the lifecycle as soon as the run ends (secrets it needed while running).
    SECRET_FIELDS: tuple[str, ...] = ()

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed while running; a stale one means the owning worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=100, blank=True, default="")
    bytes_done = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        abstract = True

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def mark_started(self) -> None:
        """Move to in progress (keeping a start time a claim already set) with a fresh heartbeat."""
        now = timezone.now()
        self.status = self.Status.IN_PROGRESS
        self.started_at = self.started_at or now
        self.heartbeat_at = now
        self.save(update_fields=["status", "started_at", "heartbeat_at"])

    def mark_finished(self, status: str, error: str = "") -> None:
        """Record a terminal status; refuses non-terminal ones."""
        if status not in self.TERMINAL:
            raise ValueError(f"{status!r} is not a terminal {self._meta.model_name} status")
        self.status = status
        self.error = error
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])


class BackupQuerySet(GroupScopedQuerySet):
    group_path = "database__group"


class Backup(Run):
    """One dump of a database, written to each of its enabled destinations."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"

    TERMINAL = frozenset({Status.COMPLETED, Status.PARTIAL, Status.FAILED})
    ACTIVE = frozenset({Status.PENDING, Status.IN_PROGRESS})
    # The status of a backup also knows "partial" (some destinations failed).

    database = models.ForeignKey("databases.Database", on_delete=models.CASCADE, related_name="backups")
    schedule = models.ForeignKey(
        "schedules.Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="backups"
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    checksum_sha256 = models.CharField(max_length=64, blank=True, default="")
    file_name = models.CharField(max_length=255, blank=True, default="")
    compression = models.CharField(max_length=10, blank=True, default="")
    # Encrypted with age to this recipient (age1…); the sha256 is of the ciphertext.
    encrypted = models.BooleanField(default=False)
    encryption_recipient = models.CharField(max_length=100, blank=True, default="")
    # {"tables": {name: rows or None}, "exact": bool}: what the database held, for drills.
    inventory = models.JSONField(null=True, blank=True)
    # A sentence when the size is far from the recent median; kept out of retention's
    # "newest good backup" until someone accepts it.
    anomaly = models.TextField(blank=True, default="")
    anomaly_accepted = models.BooleanField(default=False)

    objects = BackupQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Backup lists per database, newest first; retention walks the same order.
            models.Index(fields=["database", "-created_at"], name="backup_db_created_idx"),
            # The worker's queue of pending manual backups and its stale-heartbeat reaper.
            models.Index(fields=["status", "created_at"], name="backup_status_created_idx"),
            # GET /api/backups/ without filters and the dashboard's recent backups: every backup,
            # ORDER BY created_at DESC, id DESC LIMIT n (a seq scan and sort of the table without it).
            models.Index(fields=["-created_at", "-id"], name="backup_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Backup #{self.pk} of {self.database} ({self.status})"


class BackupCopy(models.Model):
    """A backup's file at one destination."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Saved"
        FAILED = "failed", "Failed"

    class Check(models.TextChoices):
        OK = "ok", "OK"
        MISSING = "missing", "Missing"
        CORRUPT = "corrupt", "Corrupt"
        UNREACHABLE = "unreachable", "Unreachable"

    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, related_name="copies")
    destination = models.ForeignKey(
        "destinations.Destination",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
    )
    destination_name = models.CharField(max_length=100)
    location = models.CharField(max_length=4096, blank=True, default="")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    verify_status = models.CharField(max_length=12, choices=Check.choices, blank=True, default="")
    verify_message = models.TextField(blank=True, default="")
    verified_at = models.DateTimeField(null=True, blank=True)
    # Set when a delete met S3 Object Lock: retention leaves the backup alone until then.
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["backup_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["backup", "destination"], name="copy_backup_dest_uniq"),
        ]
        indexes = [
            # The database page's destination health: each destination's newest finished copy
            # (apps.backups.destination_health) ...
            models.Index(fields=["destination", "-id"], name="copy_dest_newest_idx"),
            # ... and its newest verification (verified_at IS NOT NULL, newest first).
            models.Index(fields=["destination", "-verified_at"], name="copy_dest_verified_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.backup_id} → {self.destination_name} ({self.status})"


class RestoreQuerySet(GroupScopedQuerySet):
    group_path = "target_database__group"


class Restore(Run):
    """Loading one backup into a target database."""

    SECRET_FIELDS = ("identity",)

    backup = models.ForeignKey(Backup, null=True, on_delete=models.SET_NULL, related_name="restores")
    target_database = models.ForeignKey(
        "databases.Database", on_delete=models.CASCADE, related_name="restores"
    )
    source_copy = models.ForeignKey(
        BackupCopy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The age secret key given with the request when the group does not keep it; encrypted at
    # rest and blanked as soon as the run ends.
    identity = EncryptedTextField(blank=True, default="")
    # Clean: afterwards nothing that is not in the backup remains in the target (the engine's
    # clean_scope says how); otherwise only the backup's objects are replaced (restore_scope).
    # (Not named `clean`: that is Model.clean(), which full_clean() calls.)
    clean_restore = models.BooleanField(default=False)
    # Restore as a new database: the worker creates the target's database on its server first.
    create_target = models.BooleanField(default=False)
    # The copies tried, in order: [{copy_id, destination_name, location, result}] ("" = restored).
    attempts = models.JSONField(default=list, blank=True)
    objects = RestoreQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's queue of pending restores and its stale-heartbeat reaper.
            models.Index(fields=["status", "created_at"], name="restore_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Restore #{self.pk} of backup {self.backup_id} into {self.target_database}"


class VerificationQuerySet(GroupScopedQuerySet):
    group_path = "backup__database__group"


class Verification(Run):
    """Re-reading every saved copy of a backup to compare its size and sha256 with the record."""

    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, related_name="verifications")
    # None until it completed; True when every copy is intact.
    ok = models.BooleanField(null=True, blank=True)
    # [{destination_id, destination_name, status (ok|missing|corrupt|unreachable), message}]
    results = models.JSONField(default=list, blank=True)
    objects = VerificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's queue of pending verifications and its stale-heartbeat reaper.
            models.Index(fields=["status", "created_at"], name="verify_status_created_idx"),
            # GET /api/backups/{id}/verify: the latest verification of one backup.
            models.Index(fields=["backup", "-created_at"], name="verify_backup_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Verification #{self.pk} of backup {self.backup_id} ({self.status})"

    @property
    def summary(self) -> str:
        """One sentence for people: how far it is, or what it found."""
        subject = f"backup #{self.backup_id}"
        if self.status == self.Status.PENDING:
            return f"Verification of {subject} is queued."
        if self.status == self.Status.IN_PROGRESS:
            return f"Verifying {subject}: {self.bytes_done} bytes read so far."
        if self.status == self.Status.FAILED:
            return f"Verification of {subject} failed: {self.error}"
        if not self.results:
            return f"{subject[0].upper()}{subject[1:]} has no saved copy to verify."
        bad = [r for r in self.results if r.get("status") != "ok"]
        total = len(self.results)
        if not bad:
            if total == 1:
                return f"Backup #{self.backup_id} verified: its copy matches the recorded size and sha256."
            return (
                f"Backup #{self.backup_id} verified: all {total} copies match the recorded size and sha256."
            )
        details = "; ".join(f"{r.get('destination_name')}: {r.get('message')}" for r in bad)
        return f"Backup #{self.backup_id}: {len(bad)} of {total} copies have a problem — {details}."


class DrillQuerySet(GroupScopedQuerySet):
    group_path = "backup__database__group"


class Drill(Run):
    """Proving a backup restores: load it into a scratch database and check what arrived."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    TERMINAL = frozenset({Status.PASSED, Status.FAILED})
    ACTIVE = frozenset({Status.PENDING, Status.IN_PROGRESS})

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, related_name="drills")
    target_database = models.ForeignKey("databases.Database", on_delete=models.CASCADE, related_name="drills")
    restore = models.ForeignKey(Restore, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # [{name, ok, expected, actual}]
    checks = models.JSONField(default=list, blank=True)
    objects = DrillQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's queue of pending drills and its stale-heartbeat reaper.
            models.Index(fields=["status", "created_at"], name="drill_status_created_idx"),
            # "Last proven restorable" per database: passed drills of its backups, newest first.
            models.Index(fields=["backup", "-finished_at"], name="drill_backup_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"Drill #{self.pk} of backup {self.backup_id} into {self.target_database_id} ({self.status})"


class Acknowledgement(models.Model):
    """Someone saw a failed, partial or damaged backup: it leaves "Needs attention" (a newer bad one shows)."""

    # One per backup: acknowledging the database's newest bad backup, not the database, so the
    # next failure shows again.
    backup = models.OneToOneField(Backup, on_delete=models.CASCADE, related_name="acknowledgement")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-acknowledged_at", "-id"]

    def __str__(self) -> str:
        return f"Backup #{self.backup_id} acknowledged by {self.acknowledged_by or 'someone'}"
