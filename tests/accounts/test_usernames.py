"""One username rule: NFKC, unique regardless of case, no look-alike mixed scripts."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from rest_framework.test import APIClient

from apps.accounts.services import register_user
from apps.accounts.usernames import clean_username

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-passphrase-42"


def test_a_latin_and_cyrillic_look_alike_of_admin_is_refused(settings):
    settings.BM_ALLOW_REGISTRATION = True
    register_user("admin", PASSWORD)
    with pytest.raises(ValidationError) as exc:
        register_user("\u0430dmin", PASSWORD)  # Cyrillic а
    assert "one script" in exc.value.message_dict["username"][0]


def test_full_width_letters_are_normalised_and_collide_case_insensitively(settings):
    settings.BM_ALLOW_REGISTRATION = True
    register_user("Admin", PASSWORD)
    with pytest.raises(ValidationError) as exc:
        register_user("\uff41\uff44\uff4d\uff49\uff4e", PASSWORD)  # ａｄｍｉｎ
    assert exc.value.message_dict == {"username": ["That username is already taken."]}


def test_names_of_one_script_are_kept_normalised():
    assert clean_username("  ｂｏｂ ") == "bob"
    assert clean_username("мария") == "мария"
    assert clean_username("josé.2") == "josé.2"
    assert clean_username("たなか太郎") == "たなか太郎"


def test_the_api_and_the_page_refuse_mixed_scripts(client, settings):
    settings.BM_ALLOW_REGISTRATION = True
    api = APIClient().post(
        "/api/auth/register", {"username": "p\u0430ypal", "password": PASSWORD}, format="json"
    )
    assert api.status_code == 400 and "one script" in api.json()["username"][0]
    page = client.post(
        "/accounts/register/", {"username": "p\u0430ypal", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert "one script" in page.content.decode()
    assert not get_user_model().objects.exists()


def test_the_admin_refuses_a_look_alike_username(admin_client):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "\u0430dmin", "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 200
    assert "one script" in response.content.decode()
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "ADMIN", "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"},
    )
    assert "already taken" in response.content.decode()  # admin_client's user is "admin"


def test_the_database_refuses_a_second_name_differing_only_in_case(db):
    if connection.vendor not in {"sqlite", "postgresql"}:
        pytest.skip("MySQL/MariaDB compare usernames case-insensitively by collation")
    get_user_model().objects.create_user("carol", "", PASSWORD)
    with pytest.raises(IntegrityError):
        get_user_model().objects.create_user("Carol", "", PASSWORD)
