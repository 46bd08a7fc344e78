"""factory_boy factories for workflow_api models (shared by the engine and REST API tests).

Rows are written straight to the test database; role/user replicas can also be seeded through
``workflow_api.services.replica`` when a test needs the replica's own rules (versions, pending assignment).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from tts_common.base.permissions import ADMIN, AGENT_DEFAULTS, effective_permissions
from workflow_api.models import (
    Priority,
    RoleReplica,
    Task,
    UserReplica,
    UserRole,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoleReplica

    role_id = factory.Sequence(lambda n: 1000 + n)
    system = "TTS"
    name = factory.Sequence(lambda n: f"Role {n}")
    permissions = factory.LazyFunction(list)
    is_active = True
    version = 1


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserReplica

    user_id = factory.Sequence(lambda n: 5000 + n)
    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_active = True
    version = 1


class UserRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserRole

    user = factory.SubFactory(UserFactory)
    role = factory.SubFactory(RoleFactory)
    assigned_at = factory.LazyFunction(timezone.now)


def role_with_users(count: int, **role_kwargs: object) -> tuple[RoleReplica, list[UserReplica]]:
    """A role and ``count`` active members."""
    role = RoleFactory(**role_kwargs)
    users = UserFactory.create_batch(count)
    for user in users:
        UserRoleFactory(user=user, role=role)
    return role, users


class WorkflowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workflow

    name = factory.Sequence(lambda n: f"Workflow {n}")
    category = "IT Support"
    sub_category = factory.Sequence(lambda n: f"Sub {n}")
    department = ""
    status = Workflow.Status.DRAFT
    coordinator_role = factory.SubFactory(RoleFactory)
    sla_low = timedelta(hours=72)
    sla_medium = timedelta(hours=48)
    sla_high = timedelta(hours=24)
    sla_urgent = timedelta(hours=4)


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkflowStep

    workflow = factory.SubFactory(WorkflowFactory)
    name = factory.Sequence(lambda n: f"Step {n}")
    order = factory.Sequence(lambda n: n + 1)
    role = factory.SubFactory(RoleFactory)
    sla_weight = Decimal("100")


class TaskFactory(factory.django.DjangoModelFactory):
    """A bare task (no step history): enough to count as open work of its assignee."""

    class Meta:
        model = Task

    workflow = factory.SubFactory(WorkflowFactory)
    external_ticket_id = factory.Sequence(lambda n: f"TF-{n}")
    title = "A task"
    priority = Priority.MEDIUM
    status = Task.Status.IN_PROGRESS
    ticket_data = factory.LazyFunction(dict)
    ticket_created_at = factory.LazyFunction(timezone.now)
    sla_deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=48))


class TransitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkflowTransition

    workflow = factory.LazyAttribute(lambda o: o.from_step.workflow)
    from_step = factory.SubFactory(StepFactory)
    action = WorkflowTransition.Action.APPROVE
    to_step = None


def deployed_workflow(
    *, step_roles: list[RoleReplica], coordinator_role: RoleReplica, **workflow_kwargs: object
) -> Workflow:
    """A deployed workflow whose steps (one per role, equal SLA shares) run in order; approve moves on, the
    last approve ends the task, reject ends it from any step."""
    workflow = WorkflowFactory(
        status=Workflow.Status.DEPLOYED,
        deployed_at=timezone.now(),
        coordinator_role=coordinator_role,
        **workflow_kwargs,
    )
    weight = (Decimal(100) / len(step_roles)).quantize(Decimal("0.01"))
    steps = [
        StepFactory(workflow=workflow, name=f"Step {i + 1}", order=i + 1, role=role, sla_weight=weight)
        for i, role in enumerate(step_roles)
    ]
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        TransitionFactory(workflow=workflow, from_step=step, action=WorkflowTransition.Action.APPROVE, to_step=following)
        TransitionFactory(workflow=workflow, from_step=step, action=WorkflowTransition.Action.REJECT, to_step=None)
    return workflow


# --- API clients (REST API tests) --------------------------------------------------------------------------------
def access_token(
    user_id: int,
    username: str,
    *,
    is_admin: bool = False,
    roles: list[str] | None = None,
    permissions: Iterable[str] = AGENT_DEFAULTS,
) -> str:
    """A signed access token with the claims the auth service issues (DESIGN §5); ``permissions``: by default an
    agent's."""
    from rest_framework_simplejwt.tokens import AccessToken

    from tts_common.base.accounts import account_state_set

    account_state_set(user_id=user_id, is_active=True)  # as auth_service records for its users
    token = AccessToken()
    token["user_id"], token["username"], token["is_admin"] = user_id, username, is_admin
    token["roles"] = {"TTS": roles or []}
    token["permissions"] = effective_permissions([ADMIN] if is_admin else permissions)
    return str(token)


def api_client(
    user: UserReplica | None = None, *, is_admin: bool = False, permissions: Iterable[str] = AGENT_DEFAULTS
):
    """A DRF test client authenticated as ``user`` (or as an admin who has no replica row), with ``permissions``
    (by default an agent's)."""
    from rest_framework.test import APIClient

    client = APIClient()
    user_id, username = (user.user_id, user.username) if user is not None else (1, "admin")
    token = access_token(user_id, username, is_admin=is_admin, permissions=permissions)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def two_step_setup() -> tuple[Workflow, dict[str, list[UserReplica]]]:
    """(IT Support, Network): step 1 for 3 agents, step 2 for 2 engineers, 2 coordinators; reject ends the task."""
    coordinator_role, coordinators = role_with_users(2, name="Coordinator")
    agent_role, agents = role_with_users(3, name="Agent")
    engineer_role, engineers = role_with_users(2, name="Engineer")
    workflow = deployed_workflow(
        step_roles=[agent_role, engineer_role],
        coordinator_role=coordinator_role,
        category="IT Support",
        sub_category="Network",
    )
    return workflow, {"coordinators": coordinators, "agents": agents, "engineers": engineers}


def ingested_task(ticket_id: str, **ticket: object):
    """A task made from an HDTS ticket by the real ingestion path (matching, SLA, owner, round-robin)."""
    from workflow_api.services.ingestion import IncomingTicket, ingest_tickets

    data = {"title": f"Ticket {ticket_id}", "category": "IT Support", "sub_category": "Network", "priority": "medium"}
    data.update(ticket, ticket_id=ticket_id)
    [task] = ingest_tickets([IncomingTicket(ticket_id=ticket_id, data=data, received_at=timezone.now())])
    return task
