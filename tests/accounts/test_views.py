"""Sign in, sign out and register pages."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_sign_in_page_signs_a_user_in_and_goes_to_the_dashboard(client, user):
    assert client.get(reverse("accounts:login")).status_code == 200
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "pw-alice-123!"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_explained_on_the_form(client, user):
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "That username and password do not match an account" in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login") + "?next=/"


def test_registering_the_first_user_makes_a_signed_in_superuser(client):
    response = client.post(
        reverse("accounts:register"),
        {
            "username": "root",
            "email": "",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("backups:dashboard")
    assert "As the first user you are the administrator" in response.content.decode()
    assert get_user_model().objects.get(username="root").is_superuser


def test_registration_errors_show_inline_under_their_fields(client):
    response = client.post(
        reverse("accounts:register"),
        {"username": "bob", "email": "nope", "password1": "123", "password2": "124"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid email address." in html
    assert "The two passwords differ." in html
    assert get_user_model().objects.count() == 0


def test_a_taken_username_is_reported_on_the_username_field(client, user, settings):
    settings.BM_ALLOW_REGISTRATION = True
    response = client.post(
        reverse("accounts:register"),
        {"username": "Alice", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"},
    )
    assert "That username is already taken." in response.content.decode()


def test_closed_registration_shows_no_form_and_refuses_a_post(client, user):
    response = client.get(reverse("accounts:register"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Registration is closed" in page and 'name="password1"' not in page
    assert "Create one" not in client.get(reverse("accounts:login")).content.decode()
    response = client.post(
        reverse("accounts:register"),
        {"username": "eve", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"},
    )
    assert response.status_code == 403
    assert "Registration is closed on this server." in response.content.decode()
    assert not get_user_model().objects.filter(username="eve").exists()


def test_sign_out_is_a_post_and_ends_the_session(client, user):
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert client.get("/").status_code == 302
