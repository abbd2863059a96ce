"""The GFS retention fields say what a number keeps, under each field."""

import pytest
from django.urls import reverse

from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_each_gfs_field_has_a_hint_under_it(world):
    html = world.client_for(world.owner).get(reverse("schedules:update", args=[world.schedule.pk])).content
    html = html.decode()
    for field, hint in (
        ("keep_daily", "e.g. 7: one backup a day for the last 7 days."),
        ("keep_weekly", "e.g. 4: one a week for the last 4 ISO weeks (Monday to Sunday)."),
        ("keep_monthly", "e.g. 12: one a month for the last 12 months."),
    ):
        block = html[html.index(f'id="field-{field}"') :]
        block = block[: block.index("</div>\n</div>") if "</div>\n</div>" in block else 600]
        assert hint in block, field
