"""Backups, their per-destination results, and restores, as the API shows them."""

from __future__ import annotations

from rest_framework import serializers

from apps.backups.models import Backup, BackupCopy, Drill, Restore, Verification
from apps.common.serializers import StrictSerializerMixin


class DestinationResultSerializer(serializers.ModelSerializer):
    """One BackupCopy, under the seed's name `destination_results`."""

    # Read-only model fields lose allow_blank: "" (not checked yet) must be in the schema too.
    verify_status = serializers.ChoiceField(
        choices=BackupCopy.Check.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = BackupCopy
        fields = [
            "destination_id",
            "destination_name",
            "status",
            "location",
            "size_bytes",
            "error",
            "verify_status",
            "verify_message",
            "verified_at",
        ]
        read_only_fields = fields


class BackupSerializer(serializers.ModelSerializer):
    destination_results = DestinationResultSerializer(source="copies", many=True, read_only=True)

    class Meta:
        model = Backup
        fields = [
            "id",
            "database_id",
            "schedule_id",
            "trigger",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "size_bytes",
            "bytes_done",
            "checksum_sha256",
            "file_name",
            "compression",
            "encrypted",
            "encryption_recipient",
            "anomaly",
            "anomaly_accepted",
            "error",
            "destination_results",
        ]
        read_only_fields = fields


class ManualBackupSerializer(StrictSerializerMixin, serializers.Serializer):
    database_id = serializers.IntegerField(min_value=1)


class RestoreRequestSerializer(StrictSerializerMixin, serializers.Serializer):
    target_database_id = serializers.IntegerField(min_value=1)
    confirm = serializers.CharField(trim_whitespace=False, allow_blank=True)
    identity = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="The age secret key (AGE-SECRET-KEY-1…) of an encrypted backup, when the group does not keep it.",
    )
    clean = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "false (default): the objects in the backup replace those of the same name and the target's "
            "other objects stay. true: a clean restore — afterwards nothing that is not in the backup "
            "remains in the target (PostgreSQL: every schema dropped and reloaded in one transaction; "
            "MySQL: all tables and views swapped in one RENAME TABLE, other triggers, routines and events "
            "dropped; MongoDB: other collections and views dropped; SQLite: always, the file is replaced)."
        ),
    )


class RestoreAsNewRequestSerializer(StrictSerializerMixin, serializers.Serializer):
    """Restore into a new database on the server of a registered one (registered in that database's group)."""

    server_database_id = serializers.IntegerField(
        min_value=1,
        help_text="A registered database of the backup's engine: the new one gets its host, port, user, "
        "password and group (you must be owner there).",
    )
    name = serializers.CharField(max_length=100, help_text="The name of the new database in BackupManager.")
    database_name = serializers.CharField(
        max_length=1024,
        help_text="The database to create on that server (SQLite: a new file in the group's SQLite folders).",
    )
    identity = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="The age secret key (AGE-SECRET-KEY-1…) of an encrypted backup, when the group does not keep it.",
    )


class RestoreAttemptSerializer(serializers.Serializer):
    """One copy a restore read: where it was and what came of it ("" when it was restored)."""

    copy_id = serializers.IntegerField(allow_null=True)
    destination_name = serializers.CharField()
    location = serializers.CharField(allow_blank=True)
    result = serializers.CharField(allow_blank=True)
    messages = serializers.CharField(
        required=False, help_text="The end of what the tool said (its warnings), when it said anything."
    )


class RestoreSerializer(serializers.ModelSerializer):
    attempts = RestoreAttemptSerializer(many=True, read_only=True)
    clean = serializers.BooleanField(source="clean_restore", read_only=True)

    class Meta:
        model = Restore
        fields = [
            "id",
            "backup_id",
            "target_database_id",
            "source_copy_id",
            "status",
            "clean",
            "create_target",
            "created_at",
            "started_at",
            "finished_at",
            "bytes_done",
            "error",
            "attempts",
        ]
        read_only_fields = fields


class VerifyEntrySerializer(serializers.Serializer):
    destination_id = serializers.IntegerField(allow_null=True)
    destination_name = serializers.CharField()
    status = serializers.ChoiceField(choices=BackupCopy.Check.choices)
    message = serializers.CharField()


class VerificationSerializer(serializers.ModelSerializer):
    """A verification run: queued by POST /api/backups/{id}/verify, read back by GET."""

    backup_id = serializers.IntegerField(read_only=True)
    checked_at = serializers.DateTimeField(source="finished_at", read_only=True, allow_null=True)
    results = VerifyEntrySerializer(many=True, read_only=True)

    class Meta:
        model = Verification
        fields = [
            "id",
            "backup_id",
            "status",
            "ok",
            "checked_at",
            "results",
            "created_at",
            "started_at",
            "bytes_done",
            "error",
        ]
        read_only_fields = fields


class DeleteEntrySerializer(serializers.Serializer):
    destination_id = serializers.IntegerField(allow_null=True)
    destination_name = serializers.CharField()
    status = serializers.ChoiceField(choices=["deleted", "kept", "failed"])
    message = serializers.CharField()


class DeleteResultSerializer(serializers.Serializer):
    """Why the backup stays: busy (only `detail`), or some files could not be deleted (all three)."""

    detail = serializers.CharField()
    deleted = serializers.BooleanField(required=False)
    results = DeleteEntrySerializer(many=True, required=False)


class DrillRequestSerializer(StrictSerializerMixin, serializers.Serializer):
    target_database_id = serializers.IntegerField(min_value=1)


class DrillCheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    expected = serializers.JSONField()
    actual = serializers.JSONField()


class DrillSerializer(serializers.ModelSerializer):
    backup_id = serializers.IntegerField(read_only=True)
    target_database_id = serializers.IntegerField(read_only=True)
    checks = DrillCheckSerializer(many=True, read_only=True)

    class Meta:
        model = Drill
        fields = [
            "id",
            "backup_id",
            "target_database_id",
            "status",
            "checks",
            "created_at",
            "started_at",
            "finished_at",
            "error",
        ]
        read_only_fields = fields
