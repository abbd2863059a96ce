"""The timezone list offers places: not tzdata's "Factory" nor the host's "localtime"."""

import pytest

from apps.schedules import cron
from apps.schedules.forms import timezone_choices


def test_the_schedule_forms_timezone_list_has_no_factory_or_localtime():
    offered = {name for _group, zones in timezone_choices() for name, _label in zones}
    assert "Europe/Rome" in offered and "UTC" in offered
    assert not offered & {"Factory", "localtime", "posixrules"}


@pytest.mark.parametrize("name", ["Factory", "localtime"])
def test_factory_and_localtime_are_refused_as_a_schedules_timezone(name):
    with pytest.raises(cron.CronError, match="is not a known IANA timezone"):
        cron.validate_timezone(name)
