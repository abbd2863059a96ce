"""The filters of the backups page (/backups/): group, database, status, trigger and a date range.

The group and database choices are the caller's own (groups are tenants): another group's id is
a form error ("Select a valid choice"), never a way to list its backups.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import cast

import django_filters
from django import forms
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.backups.models import Backup
from apps.databases.models import Database
from apps.groups.models import Group


def _groups(request):
    return Group.objects.visible_to(request.user).order_by("name", "id") if request else Group.objects.none()


def _databases(request):
    if not request:
        return Database.objects.none()
    return (
        Database.objects.visible_to(request.user)
        .select_related("group")
        .only("id", "name", "group__id", "group__name")
        .order_by("group__name", "name", "id")
    )


class DatabaseChoiceField(django_filters.fields.ModelChoiceField):
    """Databases named with their group: two groups may each have a "shop"."""

    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.group.name})"


class DatabaseFilter(django_filters.ModelChoiceFilter):
    field_class = DatabaseChoiceField


class BackupListForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The “from” date must be on or before the “to” date.")
        return data


def _day_start(value) -> datetime:
    return timezone.make_aware(datetime.combine(value, time.min), timezone.get_current_timezone())


def _day_end(value) -> datetime:
    return timezone.make_aware(datetime.combine(value, time.max), timezone.get_current_timezone())


class BackupListFilter(django_filters.FilterSet):
    group = django_filters.ModelChoiceFilter(
        # django-filter calls a callable queryset with the request (its stubs only know querysets).
        method="filter_group",
        queryset=_groups,  # type: ignore[arg-type]
        empty_label="All groups",
        label="Group",
    )
    database = DatabaseFilter(
        queryset=_databases,  # type: ignore[arg-type]
        empty_label="All databases",
        label="Database",
    )
    status = django_filters.ChoiceFilter(choices=Backup.Status.choices, empty_label="Any status")
    trigger = django_filters.ChoiceFilter(choices=Backup.Trigger.choices, empty_label="Any trigger")
    since = django_filters.DateFilter(
        method="filter_since", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = django_filters.DateFilter(
        method="filter_until", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = Backup
        fields = ["group", "database", "status", "trigger", "since", "until"]
        form = BackupListForm

    def filter_group(self, queryset, name, value):
        # "database_id IN (the group's databases)" rather than a join: PostgreSQL then counts the
        # capped page by backup_db_created_idx (bench_catalogue: 27 -> 6 ms on 100 000 backups).
        return queryset.filter(database_id__in=Database.objects.filter(group=value).values("id"))

    def filter_since(self, queryset, name, value):
        return queryset.filter(created_at__gte=_day_start(value))

    def filter_until(self, queryset, name, value):
        return queryset.filter(created_at__lte=_day_end(value))


def select_options(filters: BackupListFilter) -> dict[str, SafeString]:
    """The <option>s of the group and database selects, built in one pass each.

    Django's widget renders each option through a template (~0.1 ms apiece); a user of 500
    databases would wait ~50 ms for the database select alone.
    """
    form = filters.form
    options = {}
    for name in ("group", "database"):
        field = cast(forms.ModelChoiceField, form.fields[name])
        chosen = str(form[name].value() or "")
        rows = (
            (obj.pk, " selected" if str(obj.pk) == chosen else "", field.label_from_instance(obj))
            for obj in field.queryset or ()
        )
        empty = format_html('<option value="">{}</option>', field.empty_label)
        options[name] = SafeString(empty + format_html_join("", '<option value="{}"{}>{}</option>', rows))
    return options
