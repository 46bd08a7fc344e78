"""Fixtures of the workflow_api tests: task actions through the API, and AMS and BMS stubs over real HTTP (with the
settings pointing at them and this process's circuit breakers fresh)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.stubs import AmsStub, BmsStub, json_http_server
from tests.workflow_api.factories import api_client
from workflow_api.models import Task
from workflow_api.services import integrations


@pytest.fixture
def act(django_capture_on_commit_callbacks):
    """POST an action as ``user`` (None = an admin), running the after-commit publishes."""

    def post(task: Task, user=None, **body: Any):
        client = api_client(user, is_admin=user is None)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/tasks/{task.task_id}/actions/", body, format="json")

    return post


@pytest.fixture
def ams(settings) -> Iterator[AmsStub]:
    stub = AmsStub()
    with json_http_server(stub) as url:
        settings.AMS_URL, settings.AMS_API_KEY, settings.AMS_TIMEOUT_SECONDS = url, stub.api_key, 2.0
        integrations.reset_circuits()
        yield stub
    integrations.reset_circuits()


@pytest.fixture
def bms(settings) -> Iterator[BmsStub]:
    stub = BmsStub()
    with json_http_server(stub) as url:
        settings.BMS_URL, settings.BMS_TOKEN_URL = url, url + BmsStub.TOKEN_PATH
        settings.BMS_CLIENT_ID, settings.BMS_CLIENT_SECRET = stub.client_id, stub.client_secret
        settings.BMS_TIMEOUT_SECONDS, settings.BMS_RETRY_DELAY_SECONDS = 2.0, 0.3
        integrations.reset_circuits()
        yield stub
    integrations.reset_circuits()
