"""`python manage.py demo`: a ready demo group, so a new user sees backups appear within a minute."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import Membership
from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.groups import locations
from apps.groups.models import Group
from apps.schedules.models import Schedule

GROUP = "Demo"
DATABASE = "demo-shop"
DESTINATION = "local-demo"
SCHEDULE = "every minute"


def make_demo_sqlite(path: Path) -> None:
    """A small shop database: customers, orders, an index and a view."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    with db:
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
            CREATE TABLE IF NOT EXISTS orders (
                id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                total_cents INTEGER NOT NULL, note TEXT, created_at TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS orders_customer ON orders(customer_id);
            CREATE VIEW IF NOT EXISTS big_orders AS SELECT * FROM orders WHERE total_cents > 10000;
            """
        )
        if db.execute("SELECT count(*) FROM customers").fetchone()[0] == 0:
            cities = ["Roma", "Milano", "Torino", "Napoli", "Zürich", "Köln"]
            db.executemany(
                "INSERT INTO customers (name, city) VALUES (?, ?)",
                [(f"Customer {i}", cities[i % len(cities)]) for i in range(1, 201)],
            )
            db.executemany(
                "INSERT INTO orders (customer_id, total_cents, note, created_at) VALUES (?, ?, ?, ?)",
                [
                    (
                        1 + i % 200,
                        (i * 7919) % 50000,
                        None if i % 4 else f"ordine n° {i} ☕",
                        f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00Z",
                    )
                    for i in range(1, 3001)
                ],
            )
    db.close()


class Command(BaseCommand):
    help = (
        "Create a demo user, a 'Demo' group with a SQLite database full of sample data, a local "
        "destination under the first allowed root and an every-minute schedule. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo", help="the demo user (default: demo)")
        parser.add_argument(
            "--password",
            default=os.environ.get("BM_DEMO_PASSWORD", "demo-password"),
            help="its password (default: $BM_DEMO_PASSWORD or demo-password)",
        )

    def handle(self, *args, username: str, password: str, **options):
        if not settings.BM_ALLOWED_ROOTS:
            raise CommandError("BM_ALLOWED_ROOTS is empty: there is nowhere to put the demo destination.")
        if not settings.BM_SQLITE_ROOTS:
            raise CommandError("BM_SQLITE_ROOTS is empty: there is nowhere to put the demo database.")

        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created_user = user is None
            if created_user:
                # Never an administrator: its password is a published default. (On an empty server
                # this makes later sign-ups ordinary users too: see the README's "Demo".)
                user = User.objects.create_user(username, f"{username}@example.com", password)
            group, _ = Group.objects.get_or_create(
                name=GROUP, defaults={"description": "Created by `manage.py demo`.", "created_by": user}
            )
            Membership.objects.get_or_create(user=user, group=group, defaults={"role": Membership.Role.OWNER})
            # In the demo group's own folders (apps.groups.locations: <root>/group-<id>).
            data_file = (
                Path(locations.folders(group.pk, locations.SQLITE, create=True)[0]) / "demo-shop.sqlite3"
            )
            folder = Path(locations.folders(group.pk, locations.BACKUPS, create=True)[0]) / "demo"
            make_demo_sqlite(data_file)
            folder.mkdir(parents=True, exist_ok=True)
            database, _ = Database.objects.get_or_create(
                group=group, name=DATABASE, defaults={"engine": "sqlite", "database_name": str(data_file)}
            )
            Destination.objects.get_or_create(
                database=database, name=DESTINATION, defaults={"path": str(folder.resolve())}
            )
            schedule = Schedule.objects.filter(database=database, name=SCHEDULE).first()
            if schedule is None:
                schedule = Schedule(
                    database=database,
                    name=SCHEDULE,
                    interval_value=Schedule.Interval.MINUTE,
                    cron_expression="* * * * *",
                    timezone="UTC",
                    keep_last=10,
                )
                schedule.next_run_at = schedule.compute_next_run()
                schedule.save()

        who = (
            f"user {username!r} with password {password!r}" if created_user else f"existing user {username!r}"
        )
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  sign in as {who}")
        self.stdout.write(f"  group {GROUP!r}: database {DATABASE!r} ({data_file})")
        self.stdout.write(f"  destination {DESTINATION!r}: {folder}")
        self.stdout.write(f"  schedule {SCHEDULE!r}: next run {schedule.next_run_at:%Y-%m-%d %H:%M:%S} UTC")
        self.stdout.write(
            "  backups appear within a minute while a worker runs (bin/run starts one; "
            "on its own: bin/manage runscheduler)."
        )
