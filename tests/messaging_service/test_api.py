"""The comments REST API in-process: contract, validation, ownership. (Feed and cross-process: test_feed.py.)"""
from __future__ import annotations

from datetime import timedelta

import pytest

from messaging_service.models import Comment

from .conftest import make_token, share

pytestmark = pytest.mark.django_db

URL = "/api/comments/"


def post(client, ticket: str, text: str):
    return client.post(URL, {"ticket_id": ticket, "text": text}, format="json")


def assert_error(response, status: int, code: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["status"] == status and body["code"] == code and body["detail"]
    return body


def test_create_stores_text_as_typed_and_author_from_token(api, alice, ticket):
    text = "  <script>alert('x')</script> & \"quotes\"\n\ttabbed  "
    response = post(api(alice), ticket, text)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["text"] == text  # raw, untrimmed: escaping is the renderer's job
    assert (body["author_id"], body["author_username"], body["ticket_id"]) == (alice.id, "alice", ticket)
    assert body["is_deleted"] is False and body["edited_at"] is None and body["created_at"]
    assert Comment.objects.get(pk=body["id"]).text == text


def test_author_cannot_be_forged(api, alice, ticket):
    response = api(alice).post(URL, {"ticket_id": ticket, "text": "hi", "author_id": 999, "author_username": "x"},
                               format="json")  # fmt: skip
    assert (response.json()["author_id"], response.json()["author_username"]) == (alice.id, "alice")


def test_list_oldest_first_paginated_with_after_id(api, alice, bob, ticket):
    ids = [post(api(alice if i % 2 else bob), ticket, f"c{i}").json()["id"] for i in range(5)]
    share("other-ticket", alice)
    assert post(api(alice), "other-ticket", "elsewhere").status_code == 201

    page = api(bob).get(URL, {"ticket_id": ticket, "page_size": 2}).json()
    assert set(page) == {"count", "count_is_estimate", "next", "previous", "results"}
    assert page["count"] == 5 and page["next"] and page["previous"] is None
    assert [c["id"] for c in page["results"]] == ids[:2]

    after = api(bob).get(URL, {"ticket_id": ticket, "after_id": ids[2]}).json()
    assert [c["text"] for c in after["results"]] == ["c3", "c4"]


@pytest.mark.parametrize(
    "query, field",
    [({}, "ticket_id"), ({"ticket_id": ""}, "ticket_id"), ({"ticket_id": "x" * 129}, "ticket_id"),
     ({"ticket_id": "T", "after_id": "abc"}, "after_id"), ({"ticket_id": "T", "after_id": "-1"}, "after_id")],
)  # fmt: skip
def test_list_rejects_bad_query(api, alice, query, field):
    body = assert_error(api(alice).get(URL, query), 400, "invalid")
    assert field in body["errors"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"ticket_id": "T"}, "text"),
        ({"ticket_id": "T", "text": ""}, "text"),
        ({"ticket_id": "T", "text": " \n\t "}, "text"),
        ({"ticket_id": "T", "text": "x" * 10_001}, "text"),
        ({"ticket_id": "T", "text": 123}, "text"),
        ({"ticket_id": "T", "text": None}, "text"),
        ({"ticket_id": "T", "text": ["a"]}, "text"),
        ({"ticket_id": "T", "text": "nul \x00 byte"}, "text"),
        ({"text": "hi"}, "ticket_id"),
        ({"ticket_id": "", "text": "hi"}, "ticket_id"),
        ({"ticket_id": "x" * 129, "text": "hi"}, "ticket_id"),
        ({"ticket_id": 42, "text": "hi"}, "ticket_id"),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(api, alice, payload, field):
    body = assert_error(api(alice).post(URL, payload, format="json"), 400, "invalid")
    assert field in body["errors"]
    assert not Comment.objects.exists()


def test_create_rejects_malformed_json(api, alice):
    response = api(alice).generic("POST", URL, '{"ticket_id": "T", "text": ', content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert not Comment.objects.exists()


def test_longest_text_is_accepted(api, alice, ticket):
    assert post(api(alice), ticket, "é" * 10_000).status_code == 201


@pytest.mark.parametrize("token", [None, "not-a-jwt", make_token(5, "old", lifetime=timedelta(seconds=-1))])
def test_requires_a_valid_token(api, ticket, token):
    client = api()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL, {"ticket_id": ticket}).status_code == 401
    assert post(client, ticket, "hi").status_code == 401
    assert not Comment.objects.exists()


def test_detail_and_unknown_id(api, alice, bob, ticket):
    comment = post(api(alice), ticket, "hello").json()
    assert api(bob).get(f"{URL}{comment['id']}/").json() == comment
    assert_error(api(bob).get(f"{URL}999999/"), 404, "not_found")


def test_edit_own_comment(api, alice, ticket):
    comment = post(api(alice), ticket, "first").json()
    response = api(alice).patch(f"{URL}{comment['id']}/", {"text": "second"}, format="json")
    assert response.status_code == 200
    assert response.json()["text"] == "second" and response.json()["edited_at"]


def test_others_cannot_edit_not_even_admins(api, alice, bob, admin, ticket):
    comment = post(api(alice), ticket, "mine").json()
    for intruder in (bob, admin):
        response = api(intruder).patch(f"{URL}{comment['id']}/", {"text": "yours"}, format="json")
        assert_error(response, 403, "permission_denied")
    assert Comment.objects.get(pk=comment["id"]).text == "mine"


def test_edit_rejects_bad_text(api, alice, ticket):
    comment = post(api(alice), ticket, "mine").json()
    for payload in ({}, {"text": ""}, {"text": "x" * 10_001}, {"text": 7}):
        body = assert_error(api(alice).patch(f"{URL}{comment['id']}/", payload, format="json"), 400, "invalid")
        assert "text" in body["errors"]
    assert Comment.objects.get(pk=comment["id"]).text == "mine"


def test_delete_is_soft_and_hides_text(api, alice, bob, ticket):
    comment = post(api(alice), ticket, "secret").json()
    assert api(alice).delete(f"{URL}{comment['id']}/").status_code == 204
    shown = api(bob).get(URL, {"ticket_id": ticket}).json()["results"][0]
    assert shown["is_deleted"] is True and shown["text"] is None
    assert Comment.objects.get(pk=comment["id"]).text == "secret"  # kept for the record
    assert api(alice).delete(f"{URL}{comment['id']}/").status_code == 204  # idempotent
    assert_error(api(alice).patch(f"{URL}{comment['id']}/", {"text": "back"}, format="json"), 409, "conflict")


def test_delete_others_refused_but_admins_may(api, alice, bob, admin, ticket):
    comment = post(api(alice), ticket, "mine").json()
    assert_error(api(bob).delete(f"{URL}{comment['id']}/"), 403, "permission_denied")
    assert not Comment.objects.get(pk=comment["id"]).is_deleted
    assert api(admin).delete(f"{URL}{comment['id']}/").status_code == 204
    assert Comment.objects.get(pk=comment["id"]).is_deleted


def test_schema_documents_the_endpoints(api, alice):
    response = api(alice).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/comments/"])
    assert {"get", "patch", "delete"} <= set(paths["/api/comments/{comment_id}/"])
