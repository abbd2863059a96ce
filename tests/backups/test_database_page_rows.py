"""The database page shows its newest backups and sends the rest to the backups page, filtered."""

from __future__ import annotations

import re

from django.urls import reverse

from apps.backups.context import BACKUP_ROWS


def test_the_database_page_lists_the_newest_backups_and_links_to_all_of_them(
    client, user, sqlite_database, make_backup
):
    made = [make_backup(sqlite_database, status="completed") for _ in range(BACKUP_ROWS + 3)]
    client.force_login(user)

    html = client.get(reverse("databases:detail", args=[sqlite_database.pk])).content.decode()

    shown = [int(pk) for pk in re.findall(r'<tr id="backup-(\d+)"', html)]
    assert shown == [b.pk for b in reversed(made)][:BACKUP_ROWS]
    newest = made[-1]
    for name in ("detail", "verify", "delete"):  # each row's own links (no copy: no download)
        assert reverse(f"backups:{name}", args=[newest.pk]) in html
    everything = f"{reverse('backups:list')}?database={sqlite_database.pk}"
    assert f'href="{everything}"' in html
    listed = client.get(everything).content.decode()
    assert all(f"#{b.pk}<" in listed or f">#{b.pk}" in listed for b in made)
