"""register_user: the rule shared by the sign-up page and the API."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from apps.accounts.services import RegistrationClosed, register_user

pytestmark = pytest.mark.django_db


def test_the_first_user_becomes_a_superuser():
    user = register_user("first", "a-long-passphrase-42", "first@example.com")
    assert user.is_superuser and user.is_staff
    assert user.check_password("a-long-passphrase-42")


def test_later_users_are_plain_users_when_registration_is_open(settings):
    settings.BM_ALLOW_REGISTRATION = True
    register_user("first", "a-long-passphrase-42", "")
    second = register_user("second", "a-long-passphrase-43", "")
    assert not second.is_superuser and not second.is_staff


def test_later_users_are_refused_by_default():
    register_user("first", "a-long-passphrase-42", "")
    with pytest.raises(RegistrationClosed) as exc:
        register_user("second", "a-long-passphrase-43", "")
    assert "Registration is closed" in str(exc.value)
    assert get_user_model().objects.count() == 1


def test_the_first_user_may_register_even_when_registration_is_closed(settings):
    settings.BM_ALLOW_REGISTRATION = False
    assert register_user("first", "a-long-passphrase-42", "").is_superuser


def test_it_refuses_a_taken_username_case_insensitively(settings):
    settings.BM_ALLOW_REGISTRATION = True
    register_user("alice", "a-long-passphrase-42", "")
    with pytest.raises(ValidationError) as exc:
        register_user("ALICE", "a-long-passphrase-43", "")
    assert exc.value.message_dict == {"username": ["That username is already taken."]}


def test_it_reports_weak_passwords_and_bad_emails_per_field():
    with pytest.raises(ValidationError) as exc:
        register_user("bob", "123", "not-an-email")
    errors = exc.value.message_dict
    assert errors["email"] == ["Enter a valid email address."]
    assert any("too short" in m for m in errors["password"])
    assert get_user_model().objects.count() == 0


def test_it_requires_a_username_and_a_password():
    with pytest.raises(ValidationError) as exc:
        register_user("  ", "", "")
    assert exc.value.message_dict == {"username": ["Choose a username."], "password": ["Choose a password."]}
