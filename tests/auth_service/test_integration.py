"""On the real RabbitMQ and a real server process: the exact messages published, nothing on rollback, real HTTP."""
from __future__ import annotations

import queue

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.urls import reverse
from kombu import Connection, Message

from auth_service import services
from auth_service.models import User, UserSystemRole
from tts_common import contracts

from .factories import PASSWORD, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def next_message(broker: Connection, queue_name: str, timeout: float = 10) -> Message:
    with broker.SimpleQueue(contracts.declared_queue(queue_name)) as simple_queue:
        message = simple_queue.get(timeout=timeout)
        message.ack()
        return message


def assert_empty(broker: Connection, *queue_names: str) -> None:
    for name in queue_names:
        with broker.SimpleQueue(contracts.declared_queue(name)) as simple_queue:
            with pytest.raises(queue.Empty):
                simple_queue.get(timeout=1)


def task_call(message: Message) -> tuple[str, list, dict]:
    """(task name, args, kwargs) of a Celery protocol-2 message: the body is [args, kwargs, embed]."""
    args, kwargs, _embed = message.decode()
    return message.headers["task"], args, kwargs


def test_assigning_a_role_over_http_publishes_the_exact_snapshot(broker, admin_client, agent, agent_role):
    supervisor = RoleFactory(system=agent_role.system, name="Supervisor")

    response = admin_client.post(
        reverse("auth-user-roles", args=[agent.pk]), {"role_id": supervisor.pk}, format="json"
    )

    assert response.status_code == 201, response.json()
    assigned = {a.role_id: a.assigned_at.isoformat() for a in UserSystemRole.objects.filter(user=agent)}
    message = next_message(broker, contracts.ROLE_SYNC.queue)
    assert message.content_type == "application/json"
    assert task_call(message) == (
        "workflow.role.sync",
        [],
        {
            "user_data": {
                "user_id": agent.pk,
                "username": "agent",
                "email": "agent@example.com",
                "is_active": True,
                "version": 1,
                "system_roles": [
                    {
                        "system": "TTS",
                        "role_id": agent_role.pk,
                        "role_name": "IT Support Agent",
                        "assigned_at": assigned[agent_role.pk],
                    },
                    {
                        "system": "TTS",
                        "role_id": supervisor.pk,
                        "role_name": "Supervisor",
                        "assigned_at": assigned[supervisor.pk],
                    },
                ],
            }
        },
    )
    assert_empty(broker, contracts.ROLE_SYNC.queue, contracts.ROLE_SEND.queue)


def test_changing_a_role_over_http_publishes_the_exact_role_data(broker, admin_client, tts_admin_role):
    role = RoleFactory(system=tts_admin_role.system, name="Triage", permissions=["reports.view"])

    response = admin_client.patch(
        reverse("auth-role-detail", args=[role.pk]), {"permissions": ["reports.view", "task.act"]}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert task_call(next_message(broker, contracts.ROLE_SEND.queue)) == (
        "workflow.role.send",
        [],
        {
            "role_data": {
                "role_id": role.pk,
                "system": "TTS",
                "name": "Triage",
                "permissions": ["reports.view", "task.act"],
                "is_active": True,
                "version": 2,
            }
        },
    )
    assert_empty(broker, contracts.ROLE_SEND.queue, contracts.ROLE_SYNC.queue)


def test_a_rejected_request_publishes_nothing(broker, admin_client, agent, agent_role):
    dormant = RoleFactory(system=agent_role.system, is_active=False)
    fresh = RoleFactory(system=agent_role.system)

    # Valid ids, so the request reaches the service, which locks the rows and then refuses the inactive role.
    response = admin_client.put(
        reverse("auth-user-roles", args=[agent.pk]), {"role_ids": [fresh.pk, dormant.pk]}, format="json"
    )

    assert response.status_code == 400
    assert list(UserSystemRole.objects.filter(user=agent).values_list("role_id", flat=True)) == [agent_role.pk]
    assert_empty(broker, contracts.ROLE_SYNC.queue, contracts.ROLE_SEND.queue)


def test_a_rolled_back_transaction_publishes_nothing(broker, agent, agent_role):
    supervisor = RoleFactory(system=agent_role.system, name="Supervisor")

    with pytest.raises(RuntimeError), transaction.atomic():
        services.user_role_assign(user=agent, role=supervisor)
        services.role_update(role=supervisor, data={"name": "Lead"})
        raise RuntimeError("the caller's transaction fails after the services ran")

    assert_empty(broker, contracts.ROLE_SYNC.queue, contracts.ROLE_SEND.queue)


def test_login_and_lookup_over_real_http(asgi_server):
    # The server process hashes with Django's default hasher, not the tests' fast one.
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    server = asgi_server()

    login = requests.post(f"{server.url}/token/", json={"username": user.username, "password": PASSWORD}, timeout=30)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]

    response = requests.get(
        f"{server.url}/api/v1/users/{user.pk}/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )

    assert response.status_code == 200, response.text
    assert response.json()["username"] == user.username
