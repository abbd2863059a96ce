"""`manage.py watchdog`: check for silence from cron, independently of the worker."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.notifications import watchdog


class Command(BaseCommand):
    help = (
        "Check for silence without a worker: queue 'stale' for scheduled databases with no completed "
        "backup within twice their interval and 'worker down' when no worker heartbeat is fresh, and "
        "send the due notifications while no worker is alive. Run it from cron (e.g. every 5 minutes) "
        "on a host other than the worker's; GET /health runs the same checks at most once a minute."
    )

    def handle(self, *args, **options):
        result = watchdog.run_if_due()
        if result is None:
            self.stdout.write("checked less than a minute ago (by /health or another run): nothing to do")
        elif result["worker_down"]:
            self.stdout.write(
                f"worker down: {result['stale']} stale and {result['worker_down_queued']} worker-down "
                f"notification(s) queued, {result['delivered']} delivery attempt(s)"
            )
        else:
            self.stdout.write("a worker is alive: it checks for stale databases and sends notifications")
