"""The chart on a database page: size and duration of its last backups, as server-rendered SVG.

Only this database's newest CHART_BACKUPS backups are read (the (database, -created_at) index,
one query), so one large database never flattens a small one and the page costs the same however
long the history. The plot is drawn in a stretched inner <svg> (lines keep their width with
non-scaling strokes) while every label lives in the outer one at its CSS pixel size: text stays
readable at 375 px instead of shrinking with the drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.backups.models import Backup
from apps.common.templatetags.bm import bytes_human, seconds_human

CHART_BACKUPS = 60
PLOT_W = 1000  # inner viewBox width; stretched to the chart's width
PLOT_TOP, PLOT_H = 16, 100  # CSS px: the inner svg is not scaled vertically
HEIGHT = PLOT_TOP + PLOT_H + 22
FINISHED = (Backup.Status.COMPLETED, Backup.Status.PARTIAL, Backup.Status.FAILED)


@dataclass
class Series:
    """One line: points in the inner viewBox, gridlines (y px, label) in the outer svg."""

    title: str
    points: str = ""
    dots: list[tuple[str, str]] = field(default_factory=list)
    grid: list[tuple[int, str]] = field(default_factory=list)
    summary: str = ""
    empty: bool = True


@dataclass
class DatabaseChart:
    rows: list[dict]  # newest first, for the table of values
    size: Series
    duration: Series
    failed_x: list[str] = field(default_factory=list)
    x_labels: list[tuple[str, str, str]] = field(default_factory=list)  # (x %, text, text-anchor)
    height: int = HEIGHT
    plot_top: int = PLOT_TOP
    plot_h: int = PLOT_H
    plot_w: int = PLOT_W
    axis_y: int = HEIGHT - 6

    @property
    def empty(self) -> bool:
        return not self.rows


def database_chart(database, limit: int = CHART_BACKUPS) -> DatabaseChart:
    """Size and duration of the database's last `limit` finished backups, oldest to newest."""
    newest: list[dict[str, Any]] = [
        dict(row)
        for row in Backup.objects.filter(database=database, status__in=FINISHED)
        .order_by("-created_at")
        .values("id", "created_at", "started_at", "finished_at", "size_bytes", "status")[:limit]
    ]
    for row in newest:
        start, end = row["started_at"], row["finished_at"]
        row["duration"] = (end - start).total_seconds() if start and end else None
        row["size_text"] = bytes_human(row["size_bytes"])
        row["duration_text"] = seconds_human(row["duration"])
    rows = list(reversed(newest))
    chart = DatabaseChart(
        rows=newest,
        size=_series("Size", rows, "size_bytes", bytes_human, floor=1024),
        # Whole seconds on the axis: a floor of 2 s labels sub-second runs 0 s, 1 s, 2 s.
        duration=_series("Duration", rows, "duration", seconds_human, floor=2),
    )
    if rows:
        xs = _x_positions([r["created_at"] for r in rows])
        chart.failed_x = [
            _num(x) for x, r in zip(xs, rows, strict=True) if r["status"] == Backup.Status.FAILED
        ]
        chart.x_labels = _x_labels(rows[0]["created_at"], rows[-1]["created_at"], len(rows))
    return chart


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above value: round numbers on the axis."""
    exponent = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exponent:
            return m * exponent
    return 10 * exponent


def _series(title: str, rows: list[dict], key: str, human, floor: float) -> Series:
    series = Series(title)
    xs = _x_positions([r["created_at"] for r in rows]) if rows else []
    values = [(x, r[key]) for x, r in zip(xs, rows, strict=True) if r[key] is not None]
    if not values:
        return series
    top = _nice_ceiling(max(max(v for _, v in values), floor))
    pts = []
    for x, v in values:
        y = PLOT_H - PLOT_H * v / top
        pts.append(f"{_num(x)},{_num(y)}")
        series.dots.append((_num(x), _num(y)))
    series.points = " ".join(pts)
    series.grid = [(round(PLOT_TOP + PLOT_H * (1 - f)), human(top * f)) for f in (0, 0.5, 1)]
    low, high = min(v for _, v in values), max(v for _, v in values)
    series.summary = f"{title} of the last {len(values)} backups: from {human(low)} to {human(high)}, newest {human(values[-1][1])}."
    series.empty = False
    return series


def _x_positions(times: list[datetime]) -> list[float]:
    """Time-proportional positions in 0..PLOT_W (a lone backup in the middle)."""
    first, last = times[0], times[-1]
    span = (last - first).total_seconds()
    if span <= 0:
        return [PLOT_W / 2] * len(times)
    margin = PLOT_W * 0.01
    return [margin + (PLOT_W - 2 * margin) * (t - first).total_seconds() / span for t in times]


def _x_labels(first: datetime, last: datetime, count: int) -> list[tuple[str, str, str]]:
    short = (last - first).total_seconds() < 36 * 3600
    fmt = "%H:%M" if short else "%b %d"
    if count == 1 or first == last:
        return [("50", f"{first:%Y-%m-%d %H:%M}", "middle")]
    middle = first + (last - first) / 2
    return [
        ("1", format(first, fmt), "start"),
        ("50", format(middle, fmt), "middle"),
        ("99", format(last, fmt), "end"),
    ]


def _num(value: float) -> str:
    """A coordinate as SVG wants it, whatever the locale: '12.3'."""
    return f"{value:.1f}"
