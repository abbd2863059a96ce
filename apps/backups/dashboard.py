"""Numbers and server-rendered SVG charts for the dashboard (no JavaScript, no external library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from apps.backups.models import Backup, Drill
from apps.databases.models import Database
from apps.schedules.models import Schedule

CHART_DAYS = 30
RECENT_GOOD = timedelta(hours=24)
STATUS_COLORS = {"completed": "#2f9e55", "partial": "#e0a100", "failed": "#d64545"}
W, H, PAD_L, PAD_B, PAD_T = 600, 180, 52, 20, 8


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str


@dataclass
class Chart:
    bars: list[Bar] = field(default_factory=list)
    points: str = ""
    dots: list[tuple[float, float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True
    width: int = W
    height: int = H
    plot_left: int = PAD_L
    plot_bottom: int = H - PAD_B


def success_rate(backups, since: datetime) -> dict:
    """Share of finished backups since `since` that completed (partial and failed count against)."""
    finished = backups.filter(created_at__gte=since, status__in=Backup.TERMINAL)
    agg = finished.aggregate(total=Count("id"), ok=Count("id", filter=Q(status=Backup.Status.COMPLETED)))
    total, ok = agg["total"] or 0, agg["ok"] or 0
    return {"total": total, "ok": ok, "percent": round(100 * ok / total) if total else None}


def _days(today: date) -> list[date]:
    return [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return step
    return value


def backups_per_day_chart(backups, now: datetime) -> Chart:
    """Stacked bars: completed / partial / failed backups per day over the last 30 days (UTC)."""
    today = now.date()
    days = _days(today)
    start = datetime.combine(days[0], datetime.min.time(), tzinfo=now.tzinfo)
    counts: dict[tuple[date, str], int] = {}
    for created, status in backups.filter(created_at__gte=start, status__in=Backup.TERMINAL).values_list(
        "created_at", "status"
    ):
        key = (created.astimezone(now.tzinfo).date(), status)
        counts[key] = counts.get(key, 0) + 1
    chart = Chart()
    per_day = [sum(counts.get((d, s), 0) for s in STATUS_COLORS) for d in days]
    top = _nice_max(max(per_day or [0]))
    plot_w, plot_h = W - PAD_L - 4, H - PAD_B - PAD_T
    slot = plot_w / len(days)
    for i, d in enumerate(days):
        y: float = H - PAD_B
        for status, color in STATUS_COLORS.items():
            n = counts.get((d, status), 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            chart.bars.append(
                Bar(PAD_L + i * slot + 1.5, y, max(slot - 3, 1), h, color, f"{d:%b %d}: {n} {status}")
            )
        if i % 7 == 1 or i == len(days) - 1:
            chart.x_labels.append((PAD_L + i * slot + slot / 2, "today" if d == today else f"{d:%b %d}"))
    chart.y_labels = [
        (H - PAD_B - plot_h * f, str(int(top * f)) if top * f == int(top * f) else f"{top * f:.1f}")
        for f in (0, 0.5, 1)
    ]
    chart.empty = not chart.bars
    return chart


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def size_chart(backups, now: datetime) -> Chart:
    """Size of each completed or partial backup over the last 30 days, as a line."""
    start = now - timedelta(days=CHART_DAYS)
    rows = list(
        backups.filter(
            created_at__gte=start,
            size_bytes__isnull=False,
            status__in=[Backup.Status.COMPLETED, Backup.Status.PARTIAL],
        )
        .order_by("created_at")
        .values_list("created_at", "size_bytes", "database__name")[:2000]
    )
    chart = Chart()
    if not rows:
        return chart
    top = max(size for _, size, _ in rows) or 1
    plot_w, plot_h = W - PAD_L - 4, H - PAD_B - PAD_T
    span = (now - start).total_seconds()
    pts = []
    for created, size, name in rows:
        x = PAD_L + plot_w * (created - start).total_seconds() / span
        y = H - PAD_B - plot_h * size / top
        pts.append(f"{x:.1f},{y:.1f}")
        chart.dots.append((round(x, 1), round(y, 1), f"{name} {created:%b %d %H:%M}: {_human(size)}"))
    chart.points = " ".join(pts)
    chart.y_labels = [(H - PAD_B - plot_h * f, _human(top * f)) for f in (0, 0.5, 1)]
    for i, d in enumerate(_days(now.date())):
        if i % 7 == 1:
            x = (
                PAD_L
                + plot_w
                * (datetime.combine(d, datetime.min.time(), tzinfo=now.tzinfo) - start).total_seconds()
                / span
            )
            chart.x_labels.append(
                (min(max(x, PAD_L + 14), W - 24), "today" if d == now.date() else f"{d:%b %d}")
            )
    chart.empty = False
    return chart


def dashboard_context(user) -> dict:
    now = timezone.now()
    backups = Backup.objects.visible_to(user)
    counts = dict(backups.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    status_counts = [(value, label, counts.get(value, 0)) for value, label in Backup.Status.choices]
    databases = list(
        Database.objects.visible_to(user)
        .select_related("group")
        .annotate(
            last_good_at=Max("backups__finished_at", filter=Q(backups__status=Backup.Status.COMPLETED)),
            last_at=Max("backups__created_at"),
            # The newest passed restore drill of its backups (drill_backup_finished_idx).
            last_proven_at=Subquery(
                Drill.objects.filter(backup__database=OuterRef("pk"), status=Drill.Status.PASSED)
                .order_by("-finished_at")
                .values("finished_at")[:1]
            ),
        )
    )
    for db in databases:
        db.needs_attention = db.last_good_at is None or db.last_good_at < now - RECENT_GOOD
    # Databases without a recent good backup first, the longest without one at the top.
    databases.sort(
        key=lambda d: (
            not d.needs_attention,
            d.last_good_at or datetime.min.replace(tzinfo=now.tzinfo),
            d.name,
        )
    )
    return {
        "status_counts": status_counts,
        "total_backups": sum(counts.values()),
        "running": counts.get(Backup.Status.IN_PROGRESS, 0) + counts.get(Backup.Status.PENDING, 0),
        "rate_7": success_rate(backups, now - timedelta(days=7)),
        "rate_30": success_rate(backups, now - timedelta(days=30)),
        "per_day": backups_per_day_chart(backups, now),
        "sizes": size_chart(backups, now),
        "status_colors": STATUS_COLORS,
        "next_runs": Schedule.objects.visible_to(user)
        .filter(enabled=True, next_run_at__isnull=False)
        .select_related("database")
        .order_by("next_run_at")[:8],
        "databases": databases,
        "attention_count": sum(1 for d in databases if d.needs_attention),
        "recent_good_hours": int(RECENT_GOOD.total_seconds() // 3600),
        "recent_backups": backups.select_related("database").order_by("-created_at", "-id")[:8],
    }
