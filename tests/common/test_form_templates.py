"""The shared form includes: includes/field.html gives the help text and the errors the ids that
Django's aria-describedby names, and includes/form_errors.html puts a summary linking to each field
with a mistake above a form that came back."""

from __future__ import annotations

import re

from django import forms
from django.template.loader import render_to_string


class ExampleForm(forms.Form):
    name = forms.CharField(help_text="What uses it.")
    days = forms.IntegerField(min_value=1, help_text="Between 1 and 365.")
    note = forms.CharField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("note") == "clash":
            raise forms.ValidationError("These two cannot go together.")
        return data


def render_fields(form) -> str:
    return "".join(render_to_string("includes/field.html", {"field": form[name]}) for name in form.fields)


def ids_in(html: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', html))


def described_by(html: str) -> list[str]:
    return [i for value in re.findall(r'aria-describedby="([^"]+)"', html) for i in value.split()]


def test_every_id_a_field_is_described_by_exists_before_and_after_a_failed_submit():
    fresh = render_fields(ExampleForm())
    assert described_by(fresh) == ["id_name_helptext", "id_days_helptext"]
    assert set(described_by(fresh)) <= ids_in(fresh)

    failed = ExampleForm({"name": "", "days": "0"})
    assert not failed.is_valid()
    html = render_fields(failed)
    assert described_by(html) == ["id_name_helptext", "id_name_error", "id_days_helptext", "id_days_error"]
    assert set(described_by(html)) <= ids_in(html)
    assert 'aria-invalid="true"' in html


def test_a_failed_form_starts_with_a_summary_linking_to_each_field_with_a_mistake():
    form = ExampleForm({"name": "", "days": "0"})
    assert not form.is_valid()
    html = render_to_string("includes/form_errors.html", {"form": form})
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)
    assert 'role="alert"' in summary and "data-error-summary" in summary
    assert re.findall(r'href="#([^"]+)">([^<]+)<', summary) == [("id_name", "Name"), ("id_days", "Days")]
    assert "This field is required." not in summary  # the message itself stays beside its field


def test_errors_of_no_field_show_once_without_a_summary_and_a_good_form_shows_nothing():
    form = ExampleForm({"name": "x", "days": "3", "note": "clash"})
    assert not form.is_valid()
    html = render_to_string("includes/form_errors.html", {"form": form})
    assert "error-summary" not in html
    assert html.count("These two cannot go together.") == 1

    both = ExampleForm({"name": "", "days": "3", "note": "clash"})
    assert not both.is_valid()
    html = render_to_string("includes/form_errors.html", {"form": both})
    assert "error-summary" in html and "These two cannot go together." in html

    good = ExampleForm({"name": "x", "days": "3"})
    assert good.is_valid()
    assert render_to_string("includes/form_errors.html", {"form": good}).strip() == ""
