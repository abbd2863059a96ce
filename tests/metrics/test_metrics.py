"""GET /metrics: Prometheus text computed from the catalogue at scrape time, behind a token or a superuser."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.backups.models import Backup, BackupCopy, Drill, Restore, Verification
from apps.destinations.models import Destination
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-0123456789abcdef"
DB_PASSWORD = "db-password-do-not-leak-4711"
S3_SECRET = "s3-secret-do-not-leak-0815"


def scrape(client: Client, token: str = TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def parse(response) -> dict[str, list]:
    """{metric name: [(labels, value), ...]} from a scrape."""
    assert response.status_code == 200, response.content
    families = text_string_to_metric_families(response.content.decode())
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in families}


def value(samples, metric: str, **labels):
    found = [v for got, v in samples[metric] if all(got.get(k) == str(w) for k, w in labels.items())]
    assert len(found) == 1, (metric, labels, samples[metric])
    return found[0]


@pytest.fixture
def token(settings):
    settings.BM_METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def catalogue(make_database, make_destination, make_schedule, group):
    """Two databases with completed, partial and failed backups, a failed copy, a queue, a heartbeat."""
    now = timezone.now()
    shop = make_database(name="shop", password=DB_PASSWORD)
    crm = make_database(name="crm")
    local = make_destination(shop, name="local")
    bucket = Destination.objects.create(
        database=shop,
        name="bucket",
        kind=Destination.Kind.S3,
        bucket="bm-bucket",
        access_key_id="AKIAEXAMPLE",
        secret_access_key=S3_SECRET,
    )
    make_schedule(shop, interval_value="hourly", cron_expression="0 * * * *")
    make_schedule(shop, interval_value="daily", cron_expression="0 0 * * *")
    make_schedule(crm, interval_value="daily", cron_expression="0 0 * * *")

    def backup(database, status, started, seconds, size=None):
        return Backup.objects.create(
            database=database,
            status=status,
            created_at=started,
            started_at=started,
            finished_at=started + timedelta(seconds=seconds),
            size_bytes=size,
        )

    older = backup(shop, Backup.Status.COMPLETED, now - timedelta(hours=5), 30, 1000)
    newest_good = backup(shop, Backup.Status.COMPLETED, now - timedelta(hours=3), 42, 2048)
    partial = backup(shop, Backup.Status.PARTIAL, now - timedelta(hours=2), 10, 512)
    backup(shop, Backup.Status.FAILED, now - timedelta(hours=1), 5)
    backup(crm, Backup.Status.FAILED, now - timedelta(hours=4), 7)
    backup(crm, Backup.Status.COMPLETED, now - timedelta(hours=6), 60, 4096)
    Backup.objects.create(database=crm, status=Backup.Status.PENDING)
    # Newer than the good one, but a size anomaly nobody accepted: not a good backup.
    flagged = backup(shop, Backup.Status.COMPLETED, now - timedelta(minutes=30), 3, 1)
    Backup.objects.filter(pk=flagged.pk).update(anomaly="much smaller than usual")
    Drill.objects.create(
        backup=older, target_database=crm, status=Drill.Status.PASSED, finished_at=now - timedelta(hours=4)
    )
    Drill.objects.create(backup=older, target_database=crm, status=Drill.Status.FAILED, finished_at=now)
    Drill.objects.create(backup=newest_good, target_database=crm, status=Drill.Status.PENDING)

    BackupCopy.objects.create(
        backup=partial, destination=local, destination_name="local", status=BackupCopy.Status.COMPLETED
    )
    BackupCopy.objects.create(
        backup=partial,
        destination=bucket,
        destination_name="bucket",
        status=BackupCopy.Status.FAILED,
        error="access denied",
    )
    Verification.objects.create(backup=newest_good, status=Verification.Status.PENDING)
    Verification.objects.create(backup=older, status=Verification.Status.COMPLETED, ok=True)
    Verification.objects.create(backup=older, status=Verification.Status.COMPLETED, ok=False)
    Verification.objects.create(backup=older, status=Verification.Status.FAILED, error="boom")
    Restore.objects.create(backup=older, target_database=crm, status=Restore.Status.COMPLETED)
    Restore.objects.create(backup=older, target_database=crm, status=Restore.Status.PENDING)
    channel = NotificationChannel.objects.create(
        group=group, kind="webhook", target="https://hooks.example.com/x", events=["failed"]
    )
    NotificationLog.objects.create(channel=channel, event="failed", status=NotificationLog.Status.FAILED)
    NotificationLog.objects.create(channel=channel, event="failed", status=NotificationLog.Status.SENT)
    WorkerHeartbeat.objects.create(worker_id="w-old", last_seen_at=now - timedelta(minutes=10))
    WorkerHeartbeat.objects.create(worker_id="w-1", last_seen_at=now - timedelta(seconds=30))
    return {"shop": shop, "crm": crm, "bucket": bucket, "newest_good": newest_good, "now": now}


def test_it_serves_parseable_prometheus_text_matching_the_catalogue(client, token, catalogue):
    response = scrape(client)
    assert response["Content-Type"].startswith("text/plain")
    samples = parse(response)
    shop, crm = catalogue["shop"], catalogue["crm"]

    assert value(samples, "backupmanager_backups", database="shop", status="completed") == 3
    assert value(samples, "backupmanager_backups", database="shop", status="partial") == 1
    assert value(samples, "backupmanager_backups", database="shop", status="failed") == 1
    assert value(samples, "backupmanager_backups", database="shop", status="pending") == 0
    assert value(samples, "backupmanager_backups", database="crm", status="failed") == 1
    assert value(samples, "backupmanager_backups", database="crm", status="pending") == 1
    assert value(samples, "backupmanager_backups", database_id=shop.pk, group="team", status="completed") == 3
    assert value(samples, "backupmanager_backups_anomalous", database="shop") == 1
    assert value(samples, "backupmanager_backups_anomalous", database="crm") == 0

    newest_good = catalogue["newest_good"]
    assert value(samples, "backupmanager_last_success_timestamp_seconds", database="shop") == pytest.approx(
        newest_good.finished_at.timestamp()
    )
    assert value(samples, "backupmanager_last_success_duration_seconds", database="shop") == pytest.approx(42)
    assert value(samples, "backupmanager_last_success_size_bytes", database="shop") == 2048
    assert value(samples, "backupmanager_last_success_duration_seconds", database="crm") == pytest.approx(60)
    assert value(samples, "backupmanager_last_success_size_bytes", database="crm") == 4096

    # The most frequent schedule sets the expectation.
    assert value(samples, "backupmanager_schedule_interval_seconds", database="shop") == 3600
    assert value(samples, "backupmanager_schedule_interval_seconds", database="crm") == 86400

    bucket = catalogue["bucket"]
    assert value(samples, "backupmanager_copies_failed", destination_id=bucket.pk, destination="bucket") == 1
    assert value(samples, "backupmanager_copies_failed", destination="local", database="shop") == 0

    assert value(samples, "backupmanager_verifications", database="shop", result="ok") == 1
    assert value(samples, "backupmanager_verifications", database="shop", result="problem") == 1
    assert value(samples, "backupmanager_verifications", database="shop", result="failed") == 1
    assert value(samples, "backupmanager_queue_depth", kind="verification") == 1
    assert value(samples, "backupmanager_queue_depth", kind="backup") == 1
    assert value(samples, "backupmanager_queue_depth", kind="restore") == 1
    assert value(samples, "backupmanager_runs_in_progress", kind="backup") == 0

    assert value(samples, "backupmanager_restores", database_id=crm.pk, status="completed") == 1
    assert value(samples, "backupmanager_restores", database="crm", status="pending") == 1

    assert value(samples, "backupmanager_drills", database="shop", status="passed") == 1
    assert value(samples, "backupmanager_drills", database="shop", status="failed") == 1
    assert value(samples, "backupmanager_queue_depth", kind="drill") == 1
    assert value(
        samples, "backupmanager_last_drill_passed_timestamp_seconds", database="shop"
    ) == pytest.approx((catalogue["now"] - timedelta(hours=4)).timestamp())
    assert len(samples["backupmanager_last_drill_passed_timestamp_seconds"]) == 1  # crm has none

    assert value(samples, "backupmanager_worker_heartbeat_age_seconds") == pytest.approx(30, abs=5)
    assert value(samples, "backupmanager_notification_deliveries_failed", group="team", kind="webhook") == 1


def test_a_database_without_a_completed_backup_has_no_last_success(client, token, make_database):
    make_database(name="fresh")
    samples = parse(scrape(client))
    assert samples["backupmanager_last_success_timestamp_seconds"] == []
    assert value(samples, "backupmanager_backups", database="fresh", status="completed") == 0
    assert samples["backupmanager_worker_heartbeat_age_seconds"] == []


def test_the_newest_completed_backup_is_found_even_when_another_database_finished_at_that_instant(
    client, token, make_database
):
    now = timezone.now()
    a, b = make_database(name="a"), make_database(name="b")
    Backup.objects.create(
        database=a,
        status="completed",
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=1),
        size_bytes=1,
    )
    Backup.objects.create(
        database=a, status="completed", started_at=now - timedelta(seconds=20), finished_at=now, size_bytes=2
    )
    # b's newest finished at the instant a's older one did.
    Backup.objects.create(
        database=b,
        status="completed",
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=1),
        size_bytes=3,
    )
    samples = parse(scrape(client))
    assert value(samples, "backupmanager_last_success_size_bytes", database="a") == 2
    assert value(samples, "backupmanager_last_success_duration_seconds", database="a") == pytest.approx(20)
    assert value(samples, "backupmanager_last_success_size_bytes", database="b") == 3
    assert value(samples, "backupmanager_last_success_timestamp_seconds", database="b") == pytest.approx(
        (now - timedelta(hours=1)).timestamp()
    )


def test_failed_copies_of_a_deleted_destination_are_kept_under_its_old_name(
    client, token, make_database, make_destination
):
    database = make_database(name="shop")
    gone = make_destination(database, name="old-nas")
    backup = Backup.objects.create(database=database, status="partial")
    BackupCopy.objects.create(backup=backup, destination=gone, destination_name="old-nas", status="failed")
    gone.delete()
    samples = parse(scrape(client))
    assert value(samples, "backupmanager_copies_failed", destination="old-nas") == 1
    assert value(samples, "backupmanager_copies_failed", destination="old-nas", destination_id="") == 1


def test_no_secret_appears_in_the_output(client, token, catalogue):
    text = scrape(client).content.decode()
    for secret in (DB_PASSWORD, S3_SECRET, TOKEN, "AKIAEXAMPLE", "hooks.example.com", "access denied"):
        assert secret not in text


def test_the_number_of_queries_does_not_grow_with_the_number_of_databases(
    client, token, catalogue, make_database, make_destination
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            parse(scrape(client))
        return len(ctx.captured_queries)

    before = queries()
    for i in range(5):
        database = make_database(name=f"more-{i}")
        destination = make_destination(database, name=f"more-dest-{i}")
        good = Backup.objects.create(
            database=database,
            status=Backup.Status.COMPLETED,
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )
        BackupCopy.objects.create(
            backup=good, destination=destination, destination_name=destination.name, status="failed"
        )
        Verification.objects.create(backup=good, status=Verification.Status.COMPLETED, ok=True)
        Restore.objects.create(backup=good, target_database=database, status=Restore.Status.FAILED)
        Drill.objects.create(backup=good, target_database=database, status=Drill.Status.PASSED)
    assert queries() == before
    assert before <= 11


# --- who may read it --------------------------------------------------------------------


def test_with_a_token_set_a_request_without_it_gets_401_and_a_challenge(client, token):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert TOKEN not in response.content.decode()


@pytest.mark.parametrize(
    "header", [f"Bearer {TOKEN}x", "Bearer wrong", f"Basic {TOKEN}", TOKEN, "Bearer ", f"Token {TOKEN}"]
)
def test_with_a_token_set_a_wrong_token_gets_401(client, token, header):
    response = client.get("/metrics", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "Bearer" in response["WWW-Authenticate"]


def test_with_a_token_set_a_superuser_session_alone_is_not_enough(client, token, db):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123!")
    client.force_login(admin)
    assert client.get("/metrics").status_code == 401
    assert scrape(client).status_code == 200


def test_without_a_token_anonymous_callers_get_401_not_a_login_redirect(client, settings, db):
    settings.BM_METRICS_TOKEN = None
    response = client.get("/metrics")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response
    assert scrape(client, "anything").status_code == 401


def test_without_a_token_a_signed_in_user_who_is_not_superuser_gets_403(client, settings, user):
    settings.BM_METRICS_TOKEN = None
    client.force_login(user)
    assert client.get("/metrics").status_code == 403


def test_without_a_token_a_signed_in_superuser_reads_the_metrics(client, settings, db):
    settings.BM_METRICS_TOKEN = None
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123!")
    client.force_login(admin)
    samples = parse(client.get("/metrics"))
    assert "backupmanager_queue_depth" in samples


def test_only_get_is_allowed(client, token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_the_token_setting_is_read_from_bm_metrics_token_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BM_", "DATABASE_URL", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="backupmanager.settings",
        DEBUG="true",
        BM_DATA_DIR=str(tmp_path / "data"),
        BM_METRICS_TOKEN_FILE=str(token_file),
    )
    code = "import django; django.setup(); from django.conf import settings; print(settings.BM_METRICS_TOKEN)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == TOKEN, result.stderr
