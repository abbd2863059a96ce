"""Notification channel API: what members below owner see."""


def test_members_below_owner_see_only_the_webhook_host(db, api_client, other_client, other_user, group):
    from apps.accounts.models import Membership

    url = f"/api/groups/{group.id}/channels/"
    body = {"kind": "webhook", "target": "https://hooks.example.com/T0/B0/secret-token", "events": ["failed"]}
    created = api_client.post(url, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["target"] == body["target"]
    Membership.objects.create(user=other_user, group=group, role="operator")
    listed = other_client.get(url).json()
    assert [c["target"] for c in listed] == ["https://hooks.example.com/…"]
    assert "secret-token" not in other_client.get(f"{url}{created.json()['id']}").content.decode()
