"""What the dashboard shows: numbers bounded in time, the databases needing attention, a first-run path.

Every number is read from a window of the last 30 days (the created_at indexes) or from small
indexed sets (running backups, next runs, the newest backups), and the databases shown are the
first few needing attention, so the page costs the same whatever the size of the catalogue. The
charts are server-rendered SVG (no JavaScript, no external library).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role, role_in
from apps.backups.attention import needs_attention
from apps.backups.models import Backup, Drill
from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.groups.models import Group
from apps.schedules.models import Schedule

CHART_DAYS = 30
WINDOW = timedelta(days=30)
ATTENTION_ROWS = 10
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


def _days(today: date) -> list[date]:
    return [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return step
    return value


def backups_per_day_chart(counts: dict[tuple[date, str], int], now: datetime) -> Chart:
    """Stacked bars: completed / partial / failed backups per day over the last 30 days (UTC).

    `counts` maps (day, status) to a number of backups (window_counts() gives them).
    """
    today = now.date()
    days = _days(today)
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


def window_counts(
    backups, now: datetime
) -> tuple[dict[tuple[date, str], int], dict[str, int], dict[str, int]]:
    """Finished backups of the last 30 days in one grouped query.

    Returns (per (UTC day, status), per status over 30 days, per status over 7 days).
    """
    week = now - timedelta(days=7)
    rows = (
        backups.filter(created_at__gte=now - WINDOW, status__in=Backup.TERMINAL)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "status")
        .annotate(n=Count("id"), n7=Count("id", filter=Q(created_at__gte=week)))
        .order_by()
    )
    per_day: dict[tuple[date, str], int] = {}
    month: dict[str, int] = {}
    seven: dict[str, int] = {}
    for row in rows:
        per_day[(row["day"], row["status"])] = row["n"]
        month[row["status"]] = month.get(row["status"], 0) + row["n"]
        seven[row["status"]] = seven.get(row["status"], 0) + row["n7"]
    return per_day, month, seven


def success_rate(counts: dict[str, int]) -> dict:
    """Share of finished backups that completed (partial and failed count against)."""
    total = sum(counts.values())
    ok = counts.get(Backup.Status.COMPLETED, 0)
    return {"total": total, "ok": ok, "percent": round(100 * ok / total) if total else None}


def live_context(user) -> dict:
    """The numbers the dashboard refreshes by itself (includes/dashboard_live.html)."""
    now = timezone.now()
    backups = Backup.objects.visible_to(user)
    databases = Database.objects.visible_to(user)
    per_day, month, seven = window_counts(backups, now)
    proven = Drill.objects.filter(
        backup__database=OuterRef("pk"), status=Drill.Status.PASSED, finished_at__gte=now - WINDOW
    )
    db_counts = databases.aggregate(total=Count("id"), proven=Count("id", filter=Q(Exists(proven))))
    return {
        "now": now,
        "attention": needs_attention(user, limit=ATTENTION_ROWS),
        "running": backups.filter(status__in=Backup.ACTIVE).count(),
        "week_counts": [
            (status, label, seven.get(status, 0))
            for status, label in Backup.Status.choices
            if status in Backup.TERMINAL
        ],
        "rate_7": success_rate(seven),
        "rate_30": success_rate(month),
        "database_count": db_counts["total"],
        "proven_count": db_counts["proven"],
        "per_day": backups_per_day_chart(per_day, now),
        "status_colors": STATUS_COLORS,
        "next_runs": Schedule.objects.visible_to(user)
        .filter(enabled=True, next_run_at__isnull=False)
        .select_related("database")
        .order_by("next_run_at")[:8],
        "recent_backups": backups.select_related("database").order_by("-created_at", "-id")[:8],
    }


@dataclass
class Step:
    """One step of the first-run path."""

    title: str
    done: bool
    text: str
    url: str = ""
    action: str = ""
    post: bool = False
    state: str = "later"  # done | next | later


def onboarding_steps(user) -> list[Step]:
    """Group → database → destination → schedule → first backup, each done or not, the first open one next."""
    group = Group.objects.visible_to(user).order_by("id").first()
    database = Database.objects.visible_to(user).order_by("id").first()
    destination = (
        Destination.objects.filter(database__in=Database.objects.visible_to(user)).order_by("id").first()
    )
    schedule = Schedule.objects.visible_to(user).order_by("id").first()
    db_for_next = destination.database if destination else database
    group_id = db_for_next.group_id if db_for_next else group.pk if group else None
    role = role_in(user, group_id) if group_id else None
    owner = user.is_superuser or role == Role.OWNER
    operator = owner or role == Role.OPERATOR
    steps = [
        Step(
            "Create a group",
            group is not None,
            f"Group “{group.name}” exists." if group else "Databases, keys and people belong to a group.",
            url=_url("groups:detail", group.pk) if group else _url("groups:create"),
            action="Create a group",
        ),
        Step(
            "Add a database",
            database is not None,
            f"“{database.name}” is registered."
            if database
            else "Its address and credentials; the form tests the connection before you save.",
            url=_url("databases:detail", database.pk)
            if database
            else _url("databases:create") + (f"?group={group.pk}" if group else ""),
            action="Add a database" if owner else "",
        ),
        Step(
            "Add a destination",
            destination is not None,
            f"Copies go to “{destination.name}”."
            if destination
            else "Where the copies go: a local folder, an S3 bucket or an SFTP server.",
            url=_url("databases:detail", destination.database_id) + "#destinations"
            if destination
            else _url("destinations:create", database.pk)
            if database
            else "",
            action="Add a destination" if owner else "",
        ),
        Step(
            "Schedule backups",
            schedule is not None,
            f"Schedule “{schedule.name}” is set." if schedule else "When backups run and how many are kept.",
            url=_url("databases:detail", schedule.database_id) + "#schedules"
            if schedule
            else _url("schedules:create") + f"?database={db_for_next.pk}"
            if db_for_next
            else "",
            action="Add a schedule" if owner else "",
        ),
        Step(
            "Run the first backup",
            False,
            "Run one now and watch it on the database's page; it shows here when it has started.",
            url=_url("backups:run", destination.database_id) if destination else "",
            action="Run the first backup now" if operator else "",
            post=True,
        ),
    ]
    for step in steps:
        step.state = "done" if step.done else "later"
    first_open = next((s for s in steps if not s.done), None)
    if first_open is not None:
        first_open.state = "next"
    return steps


def _url(name: str, *args) -> str:
    return reverse(name, args=args)


def dashboard_context(user) -> dict:
    """The first-run path while the user sees no backup at all, else the live numbers."""
    if not Backup.objects.visible_to(user).exists():
        return {"onboarding": onboarding_steps(user)}
    return live_context(user)
