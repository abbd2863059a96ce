"""Size anomalies: a completed backup far smaller or larger than the recent ones of its database.

A dump that suddenly shrinks to a third (a dropped table, a wrong database, a
tool that silently stopped early) or triples is worth a look before anyone
relies on it. Such a backup is flagged with a sentence, notified, and kept
out of retention's "newest good backup" until someone accepts it.
"""

from __future__ import annotations

from statistics import median

from apps.backups.models import Backup

WINDOW = 10  # the recent completed backups the median is taken over
MIN_HISTORY = 3  # fewer than this: no basis for a judgement yet
LOW, HIGH = 0.5, 3.0


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.0f} B"


def size_anomaly(backup: Backup, size: int) -> str:
    """A sentence when `size` is below half or above three times the recent median; "" otherwise."""
    sizes = [
        size
        for size in Backup.objects.filter(
            database_id=backup.database_id, status=Backup.Status.COMPLETED, size_bytes__isnull=False
        )
        .exclude(pk=backup.pk)
        .order_by("-created_at", "-id")
        .values_list("size_bytes", flat=True)[:WINDOW]
        if size is not None
    ]
    if len(sizes) < MIN_HISTORY:
        return ""
    middle = median(sizes)
    if middle <= 0:
        return ""
    ratio = size / middle
    if LOW <= ratio <= HIGH:
        return ""
    how = "smaller" if ratio < LOW else "larger"
    return (
        f"Size {_human(size)} is {ratio:.2f} × the median {_human(middle)} of the last {len(sizes)} "
        f"completed backups ({how} than expected): check it before relying on it, then accept it."
    )


def accept(backup: Backup) -> Backup:
    """Mark a flagged backup as looked at: it counts as a good backup again."""
    Backup.objects.filter(pk=backup.pk).update(anomaly_accepted=True)
    backup.refresh_from_db()
    return backup
