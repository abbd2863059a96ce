"""Where a database's backups are written."""

from __future__ import annotations

from django.db import models

from apps.common.fields import EncryptedTextField


class Destination(models.Model):
    """One place a database's backups go: a local folder (S3-compatible storage later)."""

    class Kind(models.TextChoices):
        LOCAL = "local", "Local folder"
        S3 = "s3", "S3-compatible"

    database = models.ForeignKey("databases.Database", on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOCAL)
    enabled = models.BooleanField(default=True)
    path = models.CharField(max_length=4096, blank=True, default="")
    bucket = models.CharField(max_length=255, blank=True, default="")
    prefix = models.CharField(max_length=1024, blank=True, default="")
    endpoint_url = models.CharField(max_length=1024, blank=True, default="")
    access_key = models.CharField(max_length=255, blank=True, default="")
    secret_key = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["database_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["database", "name"], name="destination_db_name_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.path or self.bucket})"
