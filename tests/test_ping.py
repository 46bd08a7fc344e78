"""The empty authenticated view (the benchmark's ceiling): a token gets its user id back, no token gets 401."""
from __future__ import annotations

from rest_framework.test import APIClient


def test_ping_answers_the_caller_and_refuses_anonymous(db, make_token):
    client = APIClient()
    assert client.get("/api/v1/ping/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=7)}")
    response = client.get("/api/v1/ping/")
    assert response.status_code == 200
    assert response.json() == {"user_id": 7}
