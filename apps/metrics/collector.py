"""The numbers behind GET /metrics, read from the metadata database at scrape time.

Every value is computed from rows, never from per-process counters, so any number of web
processes and worker hosts report the same thing. A scrape runs a fixed number of queries
(eleven: GROUP BY aggregates, one for the newest completed backup of every database, small
lists), whatever the number of databases and backups.

Counts are gauges, not counters: they are rows of the catalogue, and retention deletes old
rows, so a count may go down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Count, Max, Q, Subquery
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from apps.backups.models import Backup, BackupCopy, Drill, Restore, Verification
from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.notifications.models import NotificationLog
from apps.schedules import cron
from apps.schedules.models import Schedule, WorkerHeartbeat

PREFIX = "backupmanager_"
DATABASE_LABELS = ["database_id", "database", "group"]
DESTINATION_LABELS = ["destination_id", "destination", *DATABASE_LABELS]

# How many upcoming runs of a schedule are looked at for its interval: the longest gap among
# them, so a weekdays-only rule expects a backup within 3 days, not 1, over a weekend.
INTERVAL_LOOKAHEAD = 8

RUN_KINDS = ("backup", "restore", "verification", "drill")

# A backup flagged for its size that nobody accepted: not a good backup (see apps.backups.anomaly).
UNACCEPTED_ANOMALY = ~Q(anomaly="") & Q(anomaly_accepted=False)


def _db_labels(databases: dict[int, tuple[str, str]], database_id: int | None) -> list[str]:
    name, group = databases.get(database_id, ("", "")) if database_id is not None else ("", "")
    return ["" if database_id is None else str(database_id), name, group]


def schedule_interval_seconds(expression: str, tz_name: str, now: datetime) -> float | None:
    """The longest gap between the next runs of a cron rule in a zone; None when it cannot be computed."""
    try:
        runs = cron.next_runs(expression, tz_name, now, INTERVAL_LOOKAHEAD + 1)
    except (cron.CronError, ValueError):
        return None
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(runs, runs[1:], strict=False)]
    return max(gaps) if gaps else None


def expected_intervals(now: datetime) -> dict[int, float]:
    """Per database, the interval of its most frequent enabled schedule, in seconds (one query)."""
    rows = (
        Schedule.objects.filter(enabled=True)
        .order_by()
        .values_list("database_id", "interval_value", "cron_expression", "timezone")
    )
    known: dict[tuple[str, str], float | None] = {}  # many schedules share a rule
    intervals: dict[int, float] = {}
    for database_id, interval_value, cron_expression, tz_name in rows:
        try:
            expression = cron.expression_for(interval_value, cron_expression)
        except cron.CronError:
            continue
        key = (expression, tz_name)
        if key not in known:
            known[key] = schedule_interval_seconds(expression, tz_name, now)
        seconds = known[key]
        if seconds is None:
            continue
        if database_id not in intervals or seconds < intervals[database_id]:
            intervals[database_id] = seconds
    return intervals


def _queue_families(
    pending: dict[str, int], running: dict[str, int]
) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    queue = GaugeMetricFamily(
        PREFIX + "queue_depth", "Runs waiting for a worker (pending), by kind.", labels=["kind"]
    )
    busy = GaugeMetricFamily(
        PREFIX + "runs_in_progress", "Runs a worker is doing now, by kind.", labels=["kind"]
    )
    for kind in RUN_KINDS:
        queue.add_metric([kind], pending.get(kind, 0))
        busy.add_metric([kind], running.get(kind, 0))
    return queue, busy


def collect_metrics(now: datetime | None = None) -> list[Metric]:
    """Every metric family of a scrape, computed now from the metadata database."""
    now = now or timezone.now()
    families: list[Metric] = []

    # 1. Databases with their group.
    databases: dict[int, tuple[str, str]] = {
        pk: (name, group)
        for pk, name, group in Database.objects.order_by("pk").values_list("pk", "name", "group__name")
    }

    # 2. Backups by database and status, then the newest completed backup of each database: the
    #    completed rows whose finished_at is some database's latest (a non-correlated subquery,
    #    computed once); a row of another database that shares that instant is never the newest
    #    of its own, so keeping the latest row per database is exact.
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    pending: dict[str, int] = defaultdict(int)
    running: dict[str, int] = defaultdict(int)
    flagged: dict[int, int] = defaultdict(int)
    for database_id, status, n, unaccepted in (
        Backup.objects.order_by()
        .values_list("database_id", "status")
        .annotate(n=Count("pk"), unaccepted=Count("pk", filter=UNACCEPTED_ANOMALY))
    ):
        counts[database_id][status] = n
        flagged[database_id] += unaccepted
        if status == Backup.Status.PENDING:
            pending["backup"] += n
        elif status == Backup.Status.IN_PROGRESS:
            running["backup"] += n
    # Good: completed, and not a size anomaly nobody accepted yet (as retention counts them).
    completed = Backup.objects.filter(status=Backup.Status.COMPLETED).exclude(UNACCEPTED_ANOMALY).order_by()
    latest_instants = completed.values("database_id").annotate(latest=Max("finished_at")).values("latest")
    newest: dict[int, tuple[datetime, int, datetime | None, int | None]] = {}
    for database_id, finished_at, pk, started_at, size in completed.filter(
        finished_at__in=Subquery(latest_instants)
    ).values_list("database_id", "finished_at", "pk", "started_at", "size_bytes"):
        if finished_at is None:
            continue
        if database_id not in newest or (finished_at, pk) > newest[database_id][:2]:
            newest[database_id] = (finished_at, pk, started_at, size)
    last_success = GaugeMetricFamily(
        PREFIX + "last_success_timestamp_seconds",
        "When the newest completed backup of the database finished (unix seconds); absent while it has none.",
        labels=DATABASE_LABELS,
    )
    last_duration = GaugeMetricFamily(
        PREFIX + "last_success_duration_seconds",
        "How long the newest completed backup of the database ran.",
        labels=DATABASE_LABELS,
    )
    last_size = GaugeMetricFamily(
        PREFIX + "last_success_size_bytes",
        "Stored size of the newest completed backup of the database (after compression and encryption).",
        labels=DATABASE_LABELS,
    )
    for database_id, (finished_at, _, started_at, size) in sorted(newest.items()):
        if database_id not in databases:
            continue
        labels = _db_labels(databases, database_id)
        last_success.add_metric(labels, finished_at.timestamp())
        if started_at is not None:
            last_duration.add_metric(labels, max(0.0, (finished_at - started_at).total_seconds()))
        if size is not None:
            last_size.add_metric(labels, size)

    # Every status of every database is present (0 included).
    backups = GaugeMetricFamily(
        PREFIX + "backups",
        "Backups in the catalogue, by database and status.",
        labels=[*DATABASE_LABELS, "status"],
    )
    for database_id in databases:
        labels = _db_labels(databases, database_id)
        for status in Backup.Status.values:
            backups.add_metric([*labels, status], counts[database_id].get(status, 0))
    anomalies = GaugeMetricFamily(
        PREFIX + "backups_anomalous",
        "Backups flagged for a size far from the database's recent median that nobody accepted yet.",
        labels=DATABASE_LABELS,
    )
    for database_id in databases:
        anomalies.add_metric(_db_labels(databases, database_id), flagged.get(database_id, 0))
    families += [backups, last_success, last_duration, last_size, anomalies]

    # 3. The interval each database's schedules expect (one query, cron computed per distinct rule).
    interval = GaugeMetricFamily(
        PREFIX + "schedule_interval_seconds",
        "Longest gap between the upcoming runs of the database's most frequent enabled schedule; "
        "absent when it has none.",
        labels=DATABASE_LABELS,
    )
    for database_id, seconds in sorted(expected_intervals(now).items()):
        if database_id in databases:
            interval.add_metric(_db_labels(databases, database_id), seconds)
    families.append(interval)

    # 4. Failed copies per destination (current name; copies of deleted destinations by their old name).
    destinations = {
        pk: (name, database_id)
        for pk, name, database_id in Destination.objects.order_by("pk").values_list(
            "pk", "name", "database_id"
        )
    }
    failed_by_destination: dict[int, int] = defaultdict(int)
    failed_deleted: dict[str, int] = defaultdict(int)
    for destination_id, destination_name, n in (
        BackupCopy.objects.filter(status=BackupCopy.Status.FAILED)
        .order_by()
        .values_list("destination_id", "destination_name")
        .annotate(n=Count("pk"))
    ):
        if destination_id in destinations:
            failed_by_destination[destination_id] += n
        else:
            failed_deleted[destination_name] += n
    copies_failed = GaugeMetricFamily(
        PREFIX + "copies_failed",
        "Backup copies that failed to reach the destination; copies of deleted destinations are summed "
        "by their old name, with the id and database labels empty.",
        labels=DESTINATION_LABELS,
    )
    for pk, (name, database_id) in destinations.items():
        copies_failed.add_metric(
            [str(pk), name, *_db_labels(databases, database_id)], failed_by_destination.get(pk, 0)
        )
    for name, n in sorted(failed_deleted.items()):
        copies_failed.add_metric(["", name, *_db_labels(databases, None)], n)
    families.append(copies_failed)

    # 5. Verifications by result, restores by status (present combinations only).
    verification_counts: dict[tuple[int, str], int] = defaultdict(int)
    for database_id, status, ok, n in (
        Verification.objects.order_by()
        .values_list("backup__database_id", "status", "ok")
        .annotate(n=Count("pk"))
    ):
        if status == Verification.Status.PENDING:
            pending["verification"] += n
        elif status == Verification.Status.IN_PROGRESS:
            running["verification"] += n
        elif status == Verification.Status.FAILED:
            verification_counts[(database_id, "failed")] += n
        else:
            verification_counts[(database_id, "ok" if ok else "problem")] += n
    verifications = GaugeMetricFamily(
        PREFIX + "verifications",
        "Finished verifications by database and result: ok (every copy intact), problem (a copy "
        "missing, corrupt or unreachable), failed (the run failed).",
        labels=[*DATABASE_LABELS, "result"],
    )
    for (database_id, result), n in sorted(verification_counts.items()):
        verifications.add_metric([*_db_labels(databases, database_id), result], n)
    families.append(verifications)

    restores = GaugeMetricFamily(
        PREFIX + "restores",
        "Restores by target database and status.",
        labels=[*DATABASE_LABELS, "status"],
    )
    for database_id, status, n in sorted(
        Restore.objects.order_by().values_list("target_database_id", "status").annotate(n=Count("pk"))
    ):
        restores.add_metric([*_db_labels(databases, database_id), status], n)
        if status == Restore.Status.PENDING:
            pending["restore"] += n
        elif status == Restore.Status.IN_PROGRESS:
            running["restore"] += n
    families.append(restores)

    # Drills (restores into a scratch database that check what arrived), by the drilled backup's
    # database and status, and the newest passed one: "last proven restorable".
    drills = GaugeMetricFamily(
        PREFIX + "drills",
        "Restore drills by the database whose backup was drilled, and status (passed, failed, ...).",
        labels=[*DATABASE_LABELS, "status"],
    )
    last_drill = GaugeMetricFamily(
        PREFIX + "last_drill_passed_timestamp_seconds",
        "When the newest passed drill of a backup of the database finished (unix seconds).",
        labels=DATABASE_LABELS,
    )
    for database_id, status, n, latest in sorted(
        Drill.objects.order_by()
        .values_list("backup__database_id", "status")
        .annotate(n=Count("pk"), latest=Max("finished_at")),
        key=lambda row: (row[0], row[1]),
    ):
        labels = _db_labels(databases, database_id)
        drills.add_metric([*labels, status], n)
        if status == Drill.Status.PASSED and latest is not None:
            last_drill.add_metric(labels, latest.timestamp())
        if status == Drill.Status.PENDING:
            pending["drill"] += n
        elif status == Drill.Status.IN_PROGRESS:
            running["drill"] += n
    families += [drills, last_drill]
    families += _queue_families(pending, running)

    # 6. The worker's heartbeat: the newest of any worker.
    last_beat = (
        WorkerHeartbeat.objects.order_by("-last_seen_at").values_list("last_seen_at", flat=True).first()
    )
    heartbeat = GaugeMetricFamily(
        PREFIX + "worker_heartbeat_age_seconds",
        "Seconds since the newest worker heartbeat; absent when no worker ever reported.",
    )
    if last_beat is not None:
        heartbeat.add_metric([], max(0.0, (now - last_beat).total_seconds()))
    families.append(heartbeat)

    # 7. Notification deliveries that gave up, by channel group and kind (empty for a deleted channel).
    deliveries = GaugeMetricFamily(
        PREFIX + "notification_deliveries_failed",
        "Notification deliveries that failed after every retry, by group and channel kind.",
        labels=["group", "kind"],
    )
    for group, kind, n in sorted(
        NotificationLog.objects.filter(status=NotificationLog.Status.FAILED)
        .order_by()
        .values_list("channel__group__name", "channel__kind")
        .annotate(n=Count("pk")),
        key=lambda row: (row[0] or "", row[1] or ""),
    ):
        deliveries.add_metric([group or "", kind or ""], n)
    families.append(deliveries)
    return families


class BackupManagerCollector(Collector):
    """A prometheus_client collector that reads the catalogue at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from collect_metrics()

    def describe(self) -> Iterable[Metric]:
        # Nothing to describe up front: describing would need the database at registration.
        return []


def make_registry() -> CollectorRegistry:
    """A registry holding only BackupManager's collector (no per-process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackupManagerCollector())
    return registry
