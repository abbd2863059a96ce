"""`manage.py digest`: queue the weekly digest of every group that has a channel subscribed to it."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.notifications import digest


class Command(BaseCommand):
    help = (
        "Queue the weekly digest (backups of the last 7 days, failures, storage used and its growth, "
        "last proven restorable per database) for each group with a channel subscribed to 'digest'. "
        "Once a week over all processes: the worker does the same every week, and a run within 7 days "
        "of the last one does nothing unless --force is given. The worker sends the queued messages."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="queue now even if a digest was queued in the last 7 days"
        )

    def handle(self, *args, force: bool = False, **options):
        queued = digest.queue_all() if force else digest.run_if_due()
        if queued is None:
            last = digest.last_queued_at()
            when = f"{last:%Y-%m-%d %H:%M} UTC" if last else "recently"
            self.stdout.write(
                f"a digest was already queued at {when}: nothing to do (--force to queue anyway)"
            )
        else:
            self.stdout.write(f"{queued} digest message(s) queued")
