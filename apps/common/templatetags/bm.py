"""Small formatting filters for the HTML pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def bytes_human(value) -> str:
    """1536 -> '1.5 KB'; None -> '—'."""
    if value is None or value == "":
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PB"


@register.filter
def seconds_human(value) -> str:
    """75 -> '1 min 15 s'; None -> '—'."""
    if value is None or value == "":
        return "—"
    total = int(round(float(value)))
    if total < 60:
        return f"{total} s"
    minutes, seconds = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def elapsed_since(value: datetime | None) -> str:
    """Time since `value` (for running jobs)."""
    if not value:
        return "—"
    return seconds_human(max(0, (timezone.now() - value).total_seconds()))


@register.filter
def until(value: datetime | None) -> str:
    """'in 3 min' / 'due now' for a future time."""
    if not value:
        return "—"
    delta = (value - timezone.now()).total_seconds()
    if delta <= 0:
        return "due now"
    return f"in {seconds_human(delta)}"


@register.filter
def as_timedelta_seconds(value: timedelta | None):
    return value.total_seconds() if value else None


@register.filter
def basename(value: str) -> str:
    """'/a/b/c' -> 'c'."""
    value = (value or "").rstrip("/")
    return value.rsplit("/", 1)[-1] or "/"


@register.filter
def status_label(value: str) -> str:
    """'in_progress' -> 'In progress'."""
    return (value or "").replace("_", " ").capitalize()
