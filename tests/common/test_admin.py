import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db

SECRET = "Adm1n-visible-n0where"


@pytest.fixture
def admin_client(client):
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123!")
    client.force_login(superuser)
    return client


def test_every_model_has_a_changelist_and_add_page_that_render(admin_client, make_database):
    make_database(password=SECRET)
    for model in admin.site._registry:
        meta = model._meta
        changelist = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert changelist.status_code == 200, meta.label
        assert SECRET not in changelist.content.decode()


def test_the_database_change_page_never_shows_the_password_and_blank_keeps_it(admin_client, make_database):
    database = make_database(
        engine="postgresql", host="127.0.0.1", port=5432, database_name="app", password=SECRET
    )
    url = reverse("admin:databases_database_change", args=[database.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    form = {
        "group": database.group_id,
        "name": "renamed",
        "engine": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "database_name": "app",
        "username": "",
        "password": "",
        "options": "{}",
        "compression": "zstd",
        "timeout_seconds": "",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    database.refresh_from_db()
    assert database.name == "renamed" and database.password == SECRET

    # A new host with a blank password: the stored one is not sent to the new place.
    response = admin_client.post(url, {**form, "host": "db.internal"})
    assert response.status_code == 200
    assert "enter the password again" in response.content.decode()
    database.refresh_from_db()
    assert database.host == "127.0.0.1" and database.password == SECRET


def test_admin_search_and_filters_work_on_backups(admin_client, make_database):
    from apps.backups.models import Backup

    Backup.objects.create(database=make_database(), status="failed", error="boom")
    url = reverse("admin:backups_backup_changelist")
    assert admin_client.get(url, {"q": "boom"}).status_code == 200
    assert admin_client.get(url, {"status__exact": "failed"}).status_code == 200
