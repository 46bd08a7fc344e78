"""REST API: the caller's own notifications only, read state, preferences, admin deliveries; bad input → 4xx."""
from __future__ import annotations

import pytest

from notification_service.models import EmailDelivery, InAppNotification, NotificationPreference
from notification_service.services import email_delivery, inapp
from notification_service.services.inapp import NotificationDraft

pytestmark = pytest.mark.django_db

BASE = "/api/v2/notifications"


def store(user_id: int, n: int = 1, notification_type: str = "comment_added") -> list[InAppNotification]:
    return inapp.create_notifications(
        drafts=[
            NotificationDraft(user_id=user_id, notification_type=notification_type, subject=f"s{i}", message=f"m{i}")
            for i in range(n)
        ]
    )


def test_list_is_the_callers_newest_first_and_paginated(api):
    mine = store(1, 3)
    store(2, 2)
    body = api(1).get(f"{BASE}/inapp/?page_size=2").json()
    assert body["count"] == 3 and body["next"] and body["previous"] is None
    assert [n["id"] for n in body["results"]] == [mine[2].id, mine[1].id]
    assert set(body["results"][0]) >= {
        "id", "user_id", "notification_type", "subject", "message", "related_task_id", "related_ticket_id",
        "metadata", "is_read", "read_at", "created_at",
    }  # fmt: skip
    assert api(1).get(f"{BASE}/inapp/?page=2&page_size=2").json()["results"][0]["id"] == mine[0].id


def test_unread_filter_count_and_marking(api):
    first, second = store(1, 2)
    client = api(1)
    assert client.get(f"{BASE}/inapp/unread-count/").json() == {"unread_count": 2}
    response = client.post(f"{BASE}/inapp/{first.id}/read/")
    assert response.status_code == 200 and response.json()["is_read"] and response.json()["read_at"]
    assert [n["id"] for n in client.get(f"{BASE}/inapp/?unread=true").json()["results"]] == [second.id]
    assert [n["id"] for n in client.get(f"{BASE}/inapp/?unread=false").json()["results"]] == [first.id]
    assert client.get(f"{BASE}/inapp/").json()["count"] == 2
    assert client.get(f"{BASE}/inapp/unread-count/").json() == {"unread_count": 1}
    assert client.post(f"{BASE}/inapp/read-all/").json() == {"marked_read": 1, "unread_count": 0}
    assert client.post(f"{BASE}/inapp/read-all/").json() == {"marked_read": 0, "unread_count": 0}


def test_type_filter(api):
    store(1, 1, "comment_added")
    [breach] = store(1, 1, "sla_breach")
    assert [n["id"] for n in api(1).get(f"{BASE}/inapp/?notification_type=sla_breach").json()["results"]] == [
        breach.id
    ]


def test_other_users_notifications_are_not_found(api):
    [theirs] = store(2)
    client = api(1)
    for response in (
        client.get(f"{BASE}/inapp/{theirs.id}/"),
        client.post(f"{BASE}/inapp/{theirs.id}/read/"),
        api(1, is_admin=True).post(f"{BASE}/inapp/{theirs.id}/read/"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    client.post(f"{BASE}/inapp/read-all/")
    assert not InAppNotification.objects.get(id=theirs.id).is_read
    assert api(2).get(f"{BASE}/inapp/{theirs.id}/").json()["id"] == theirs.id


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/inapp/"),
        ("get", "/inapp/unread-count/"),
        ("post", "/inapp/1/read/"),
        ("post", "/inapp/read-all/"),
        ("get", "/preferences/"),
        ("put", "/preferences/"),
        ("get", "/deliveries/"),
        ("post", "/deliveries/1/retry/"),
    ],
)
def test_every_endpoint_needs_a_valid_token(method, path):
    from rest_framework.test import APIClient

    client = APIClient()
    assert getattr(client, method)(BASE + path).status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = getattr(client, method)(BASE + path)
    assert response.status_code == 401 and response.json()["status"] == 401


@pytest.mark.parametrize(
    "query, field",
    [("unread=maybe", "unread"), ("notification_type=party", "notification_type")],
)
def test_bad_list_filters_are_400(api, query, field):
    response = api(1).get(f"{BASE}/inapp/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["errors"]


def test_bad_ids_and_pages(api):
    client = api(1)
    assert client.post(f"{BASE}/inapp/abc/read/").status_code == 404
    assert client.post(f"{BASE}/inapp/99999999999999999999999/read/").status_code == 404
    assert client.get(f"{BASE}/inapp/?page=99").status_code == 404
    assert client.get(f"{BASE}/inapp/1/read/").status_code == 405
    assert client.delete(f"{BASE}/inapp/read-all/").status_code == 405


def test_preferences_default_and_update(api):
    client = api(1)
    body = client.get(f"{BASE}/preferences/").json()
    assert body["email_types"] == [
        "task_assignment", "task_transfer_in", "task_escalation", "sla_breach", "unrouted_ticket", "dead_letter"
    ]  # fmt: skip
    assert "comment_added" in body["available_types"]
    response = client.put(f"{BASE}/preferences/", {"email_types": ["comment_added", "sla_breach"]}, format="json")
    assert response.status_code == 200 and response.json()["email_types"] == ["sla_breach", "comment_added"]
    assert client.get(f"{BASE}/preferences/").json()["email_types"] == ["sla_breach", "comment_added"]
    assert api(2).get(f"{BASE}/preferences/").json()["email_types"][0] == "task_assignment"


def test_preferences_email_modes_quiet_hours_and_digest(api):
    client = api(1)
    body = client.get(f"{BASE}/preferences/").json()
    assert body["email_modes"]["task_assignment"] == "immediate" and body["email_modes"]["comment_added"] == "off"
    assert (body["unread_delay_minutes"], body["time_zone"], body["digest_hour"]) == (15, "UTC", 8)
    assert body["quiet_hours_start"] is None and body["quiet_hours_exempt_types"] == []
    assert body["available_modes"] == ["off", "immediate", "if_unread", "digest"]
    chosen = {
        "email_modes": {"comment_added": "if_unread", "sla_warning": "digest", "task_assignment": "off"},
        "unread_delay_minutes": 30,
        "time_zone": "Europe/Berlin",
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:00",
        "quiet_hours_exempt_types": ["sla_breach"],
        "digest_hour": 9,
    }
    response = client.put(f"{BASE}/preferences/", chosen, format="json")
    assert response.status_code == 200
    body = client.get(f"{BASE}/preferences/").json()
    assert body | chosen | {"email_modes": body["email_modes"]} == body
    assert body["email_modes"] | chosen["email_modes"] == body["email_modes"]
    assert body["email_modes"]["task_escalation"] == "immediate"  # unnamed types keep their mode
    assert "comment_added" in body["email_types"] and "task_assignment" not in body["email_types"]

    # A partial PUT keeps the rest; the older email_types keeps the mode of a listed type that has one.
    body = client.put(f"{BASE}/preferences/", {"email_types": ["comment_added", "sla_breach"]}, format="json").json()
    assert body["email_types"] == ["sla_breach", "comment_added"]
    assert (body["email_modes"]["comment_added"], body["email_modes"]["sla_warning"]) == ("if_unread", "off")
    assert (body["time_zone"], body["quiet_hours_start"], body["digest_hour"]) == ("Europe/Berlin", "22:00", 9)
    body = client.put(f"{BASE}/preferences/", {"quiet_hours_start": None, "quiet_hours_end": None}, format="json")
    assert body.json()["quiet_hours_start"] is None and body.json()["quiet_hours_end"] is None
    assert api(2).get(f"{BASE}/preferences/").json()["time_zone"] == "UTC"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "non_field_errors"),
        ({"email_types": "sla_breach"}, "email_types"),
        ({"email_types": ["party"]}, "email_types"),
        ({"email_types": [1]}, "email_types"),
        ({"email_types": None}, "email_types"),
        ({"email_modes": {"party": "immediate"}}, "email_modes"),
        ({"email_modes": {"sla_breach": "loudly"}}, "email_modes"),
        ({"email_modes": ["sla_breach"]}, "email_modes"),
        ({"email_modes": {"sla_breach": "off"}, "email_types": []}, "email_modes"),
        ({"unread_delay_minutes": 0}, "unread_delay_minutes"),
        ({"unread_delay_minutes": "soon"}, "unread_delay_minutes"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end"),
        ({"quiet_hours_end": "07:00"}, "quiet_hours_start"),
        ({"quiet_hours_start": "25:00", "quiet_hours_end": "07:00"}, "quiet_hours_start"),
        ({"quiet_hours_start": "22:00", "quiet_hours_end": None}, "quiet_hours_end"),
        ({"quiet_hours_start": "22:00", "quiet_hours_end": "22:00"}, "quiet_hours_end"),
        ({"quiet_hours_exempt_types": ["party"]}, "quiet_hours_exempt_types"),
        ({"digest_hour": 24}, "digest_hour"),
        ({"digest_hour": -1}, "digest_hour"),
    ],
)
def test_bad_preferences_are_400_and_change_nothing(api, body, field):
    response = api(1).put(f"{BASE}/preferences/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not NotificationPreference.objects.exists()


def test_malformed_json_is_400(api):
    response = api(1).put(f"{BASE}/preferences/", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_deliveries_are_for_admins(api):
    store(1, 1, "task_assignment")
    assert api(1).get(f"{BASE}/deliveries/").status_code == 403
    delivery = EmailDelivery.objects.get()
    assert api(1).post(f"{BASE}/deliveries/{delivery.id}/retry/").status_code == 403


def test_admin_lists_failed_deliveries_and_retries_one(api, django_capture_on_commit_callbacks, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(email_delivery, "enqueue_email_deliveries", lambda delivery_ids: queued.extend(delivery_ids))
    store(1, 2, "task_assignment")
    failed, pending = EmailDelivery.objects.order_by("id")
    EmailDelivery.objects.filter(id=failed.id).update(status="failed", attempts=6, last_error="SMTP down")
    admin = api(99, is_admin=True)
    body = admin.get(f"{BASE}/deliveries/?status=failed").json()
    assert body["count"] == 1
    [listed] = body["results"]
    expected = {"id": failed.id, "status": "failed", "attempts": 6, "last_error": "SMTP down", "mode": "immediate"}
    assert listed | expected | {"not_before": None, "digest_id": None} == listed
    assert admin.get(f"{BASE}/deliveries/").json()["count"] == 2
    assert admin.get(f"{BASE}/deliveries/?status=nope").status_code == 400
    assert admin.get(f"{BASE}/deliveries/?user_id=x").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"{BASE}/deliveries/{failed.id}/retry/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert queued == [failed.id]
    conflict = admin.post(f"{BASE}/deliveries/{pending.id}/retry/")
    assert conflict.status_code == 409 and conflict.json()["code"] == "conflict"
    assert admin.post(f"{BASE}/deliveries/999999/retry/").status_code == 404


def test_rejected_messages_are_listed_for_admins(api):
    inapp.record_rejected_message(task_name="notifications.create_inapp", kwargs={"x": 1}, reason="bad", retries=0)
    assert api(1).get(f"{BASE}/rejected/").status_code == 403
    assert api(1, is_admin=True).get(f"{BASE}/rejected/").json()["results"][0]["reason"] == "bad"


def test_schema_documents_the_endpoints(api):
    response = api(1).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert f"{BASE}/inapp/" in paths and f"{BASE}/deliveries/{{delivery_id}}/retry/" in paths
