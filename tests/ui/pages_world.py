"""A populated catalogue for the page walk (tests/ui/test_pages_layout.py), written into a running
site's metadata database by `manage.py shell` in that site's environment (see `populate_site`).

What a sysadmin sees after a few weeks: three groups (one where the user is only a viewer, for the
403 page), databases of all four engines, local + S3 + SFTP destinations, schedules, notification
channels, an encryption key, an API token, and backups that completed, failed (with a long error),
went partial, lost a copy (verified missing), plus restores and a verification. Nothing is left
pending or running (the site's worker would pick it up) and no schedule is due.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEER = "priya"
PEER_PASSWORD = "pw-priya-for-ui-123"

LONG_ERROR = (
    'pg_dump: error: connection to server at "10.0.4.17", port 5432 failed: FATAL:  password '
    'authentication failed for user "backup"\nconnection to server at "10.0.4.17", port 5432 failed: '
    'FATAL:  no pg_hba.conf entry for host "10.0.9.3", user "backup", database "billing", no encryption'
)


def populate_site(site, username: str, password: str) -> dict:
    """Create the user `username` (a member, not the administrator) and fill the site's catalogue
    around it; return the ids the pages need."""
    code = f"from tests.ui.pages_world import populate; populate({username!r}, {password!r})"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def populate(username: str, password: str) -> None:
    """Runs inside the site's Django (manage.py shell); prints the ids as one JSON line."""
    import hashlib
    import os
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.invites import create_invite
    from apps.accounts.models import Membership
    from apps.accounts.tokens import create_api_token
    from apps.backups.models import Backup, BackupCopy, Restore, Verification
    from apps.databases.models import Database
    from apps.destinations.models import Destination
    from apps.groups import locations
    from apps.groups.models import Group
    from apps.keys.services import create_key
    from apps.notifications.models import NotificationChannel
    from apps.schedules.models import Schedule
    from tests.ui.world import make_sqlite

    user = get_user_model().objects.create_user(username, f"{username}@example.com", password)
    # A colleague who signs in with a second factor (for the sign-in code page).
    peer = get_user_model().objects.create_user("priya", "priya@example.com", PEER_PASSWORD)
    TOTPDevice.objects.create(user=peer, name="Authenticator app", confirmed=True)
    now = timezone.now()
    ids: dict[str, int | str] = {}

    def folder(group, kind) -> Path:
        path = Path(locations.default_paths(group.pk, kind)[0])
        path.mkdir(mode=0o750, parents=True, exist_ok=True)
        return path

    with transaction.atomic():
        shop = Group.objects.create(name="Shop team", description="Web shop and its payment databases")
        analytics = Group.objects.create(name="Analytics", description="")
        finance = Group.objects.create(name="Finance", description="Read-only for the shop team")
        for group, role in ((shop, "owner"), (analytics, "owner"), (finance, "viewer")):
            Membership.objects.create(user=user, group=group, role=role)
        ids["peer_membership"] = Membership.objects.create(user=peer, group=shop, role="operator").pk
        Membership.objects.create(user=peer, group=finance, role="owner")

        sqlite_file = make_sqlite(folder(shop, locations.SQLITE) / "orders.sqlite3")
        orders = Database.objects.create(
            group=shop, name="orders", engine="sqlite", database_name=str(sqlite_file)
        )
        billing = Database.objects.create(
            group=shop,
            name="billing-production-eu-west",
            engine="postgresql",
            host="127.0.0.1",
            port=1,
            database_name="billing",
            username="backup",
        )
        Database.objects.create(
            group=analytics,
            name="events",
            engine="mysql",
            host="127.0.0.1",
            port=1,
            database_name="events",
            username="reader",
        )
        Database.objects.create(
            group=analytics,
            name="sessions",
            engine="mongodb",
            host="127.0.0.1",
            port=1,
            database_name="sessions",
            username="",
        )
        ledger = Database.objects.create(
            group=finance,
            name="ledger",
            engine="postgresql",
            host="127.0.0.1",
            port=1,
            database_name="ledger",
            username="backup",
        )

        backups_dir = folder(shop, locations.BACKUPS)
        local = Destination.objects.create(
            database=orders, name="local-disk", kind="local", path=str(backups_dir / "orders")
        )
        Path(local.path).mkdir(exist_ok=True)
        s3 = Destination.objects.create(
            database=orders,
            name="offsite-s3",
            kind="s3",
            bucket="acme-backups-offsite",
            prefix="shop/orders",
            region="eu-west-1",
            endpoint_url="https://s3.eu-west-1.amazonaws.com",
            access_key_id="AKIAEXAMPLEEXAMPLE",
        )
        sftp = Destination.objects.create(
            database=billing,
            name="vault-sftp",
            kind="sftp",
            host="127.0.0.1",
            port=2222,
            username="backups",
            path="/srv/backups/billing",
        )
        Destination.objects.create(
            database=billing, name="billing-local", kind="local", path=str(backups_dir / "billing")
        )
        (backups_dir / "billing").mkdir(exist_ok=True)

        schedules = {
            "nightly": Schedule.objects.create(
                database=orders,
                name="nightly",
                interval_value="daily",
                cron_expression="0 2 * * *",
                timezone="Europe/Rome",
                keep_last=14,
                last_run_at=now - timedelta(hours=6),
            ),
            # Nothing comes due while the walk runs: a run of billing (no server) would fail and notify.
            "sunday": Schedule.objects.create(
                database=billing,
                name="sunday full",
                interval_value="custom",
                cron_expression="15 3 * * 0",
                timezone="UTC",
                keep_days=35,
            ),
            "weekly": Schedule.objects.create(
                database=orders,
                name="weekly archive (GFS)",
                interval_value="custom",
                cron_expression="30 4 * * 0",
                timezone="America/New_York",
                keep_daily=7,
                keep_weekly=4,
                keep_monthly=12,
                enabled=False,
            ),
        }
        for schedule in schedules.values():  # next runs as the worker computes them: none is due
            Schedule.objects.filter(pk=schedule.pk).update(next_run_at=schedule.compute_next_run(after=now))
        ids["schedule"] = schedules["nightly"].pk

        NotificationChannel.objects.create(
            group=shop, kind="email", target="oncall@example.com", events=["failed", "partial", "digest"]
        )
        hook = NotificationChannel.objects.create(
            group=shop,
            kind="webhook",
            target="https://hooks.example.com/services/T000/B000/xxxxxxxxxxxxxxxx",
            events=["failed", "partial", "recovered", "stale"],
            secret="whsec-example",
        )
        ids["channel"] = hook.pk
        key = create_key(shop, "offsite-2026").key
        ids["key"] = key.pk
        ids["invite"] = create_invite(shop, user, "viewer", 7)[1]
        create_api_token(user, "grafana exporter", "read", 90)
        create_api_token(user, "ci deploy hook", "operate", 30)

        def backup(database, status, minutes_ago, *, error="", trigger="scheduled", size=4_200_000):
            created = now - timedelta(minutes=minutes_ago)
            return Backup.objects.create(
                database=database,
                schedule=schedules["nightly"] if trigger == "scheduled" and database == orders else None,
                trigger=trigger,
                status=status,
                created_at=created,
                started_at=created,
                finished_at=created + timedelta(seconds=42),
                size_bytes=None if status == "failed" else size,
                bytes_done=0 if status == "failed" else size,
                checksum_sha256=""
                if status == "failed"
                else hashlib.sha256(str(minutes_ago).encode()).hexdigest(),
                file_name=""
                if status == "failed"
                else f"{database.name}_{created:%Y%m%dT%H%M%SZ}.sqlite.zst",
                compression="zstd",
                error=error,
            )

        def copy(b, destination, status="completed", **fields):
            location = os.path.join(destination.path or destination.prefix or "", b.file_name)
            return BackupCopy.objects.create(
                backup=b,
                destination=destination,
                destination_name=destination.name,
                location=location if status == "completed" else "",
                status=status,
                size_bytes=b.size_bytes if status == "completed" else None,
                **fields,
            )

        # A month of nightly backups of orders: mostly good, the newest on disk for real.
        for day in range(30, 0, -1):
            b = backup(orders, "completed", day * 24 * 60 + 120, size=4_000_000 + day * 9_000)
            copy(b, local)
            copy(b, s3)
        content = sqlite_file.read_bytes()
        good = backup(orders, "completed", 90, trigger="manual", size=len(content))
        (Path(local.path) / good.file_name).write_bytes(content)
        copy(good, local, verify_status="ok", verified_at=now - timedelta(minutes=80))
        copy(good, s3, verify_status="ok", verified_at=now - timedelta(minutes=80))
        Verification.objects.create(
            backup=good,
            status="completed",
            ok=True,
            created_at=now - timedelta(minutes=81),
            started_at=now - timedelta(minutes=81),
            finished_at=now - timedelta(minutes=80),
            results=[
                {"destination": "local-disk", "status": "ok"},
                {"destination": "offsite-s3", "status": "ok"},
            ],
        )
        ids["backup"] = good.pk
        partial = backup(orders, "partial", 60)
        copy(partial, local)
        copy(partial, s3, "failed", error="S3 PutObject: AccessDenied: the bucket policy refuses this key")
        ids["partial"] = partial.pk
        missing = backup(orders, "completed", 45)
        copy(
            missing,
            local,
            verify_status="missing",
            verify_message="The file is not there any more.",
            verified_at=now - timedelta(minutes=5),
        )
        copy(missing, s3, verify_status="ok", verified_at=now - timedelta(minutes=5))
        ids["missing"] = missing.pk
        encrypted = backup(orders, "completed", 15)
        Backup.objects.filter(pk=encrypted.pk).update(
            encrypted=True, encryption_recipient=key.recipient, file_name=encrypted.file_name + ".age"
        )
        encrypted.refresh_from_db()
        copy(encrypted, local)
        ids["encrypted"] = encrypted.pk
        failed = backup(billing, "failed", 30, error=LONG_ERROR)
        copy(failed, sftp, "failed", error="not started: the dump failed")
        ids["failed"] = failed.pk
        for hours in (5, 4, 3, 2):
            billing_backup = backup(billing, "completed", hours * 60, size=54_000)
            copy(billing_backup, sftp)
        backup(ledger, "completed", 200, size=1_200_000)

        restore = Restore.objects.create(
            backup=good,
            target_database=orders,
            status="completed",
            requested_by=user,
            created_at=now - timedelta(minutes=20),
            started_at=now - timedelta(minutes=20),
            finished_at=now - timedelta(minutes=19),
            bytes_done=len(content),
        )
        ids["restore"] = restore.pk
        failed_restore = Restore.objects.create(
            backup=billing_backup,
            target_database=billing,
            status="failed",
            requested_by=user,
            created_at=now - timedelta(minutes=10),
            started_at=now - timedelta(minutes=10),
            finished_at=now - timedelta(minutes=10),
            error="pg_restore: error: could not connect to the server",
        )
        ids["failed_restore"] = failed_restore.pk
        ids.update(
            shop=shop.pk,
            analytics=analytics.pk,
            finance=finance.pk,
            orders=orders.pk,
            billing=billing.pk,
            local=local.pk,
            s3=s3.pk,
            sftp=sftp.pk,
        )
    print(json.dumps(ids))
