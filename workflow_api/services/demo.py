"""The two demo workflows of DESIGN §6, created and deployed through the ordinary services."""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from workflow_api.models import ExternalAction, RoleReplica, Workflow
from workflow_api.services.workflows import StepData, TransitionData, WorkflowData, workflow_create, workflow_deploy

COORDINATOR_ROLE = "Ticket Coordinator"
DEMO_SLA_HOURS = {"urgent": 4.0, "high": 8.0, "medium": 24.0, "low": 72.0}
# (name, category, sub_category, [(step name, role name, SLA weight, external action), ...]); steps run in order.
DEMO_WORKFLOWS: list[tuple[str, str, str, list[tuple[str, str, int, str]]]] = [
    (
        "Network Issue",
        "IT Support",
        "Network",
        [("Triage", "IT Support Agent", 40, ""), ("Fix", "Network Engineer", 60, "")],
    ),
    (
        "Equipment Request",
        "Procurement",
        "Equipment",
        [
            ("Review", "Supervisor", 40, ExternalAction.AMS_RESERVE),
            ("Budget Approval", "Budget Approver", 60, ExternalAction.BMS_BUDGET_CHECK),
        ],
    ),
]


def seed_demo_workflows() -> None:
    """Create and deploy each demo workflow unless one is already deployed for its category (idempotent).

    Needs the demo roles in the replica (the auth seed's role sync); raises ``LookupError`` naming any missing.
    """
    wanted = {COORDINATOR_ROLE} | {role for *_, steps in DEMO_WORKFLOWS for _, role, _, _ in steps}
    roles = {
        role.name: role
        for role in RoleReplica.objects.filter(system=settings.TTS_SYSTEM, name__in=wanted, is_active=True)
    }
    missing = sorted(wanted - set(roles))
    if missing:
        raise LookupError(f"Demo roles not in the role replica yet (run the auth seed and its sync): {missing}")
    for name, category, sub_category, steps in DEMO_WORKFLOWS:
        with transaction.atomic():
            deployed = Workflow.objects.filter(
                status=Workflow.Status.DEPLOYED, category=category, sub_category=sub_category, department=""
            )
            if not deployed.exists():
                workflow = workflow_create(actor=None, data=_definition(name, category, sub_category, steps, roles))
                workflow_deploy(workflow_id=workflow.pk, actor=None)


def _definition(
    name: str, category: str, sub_category: str, steps: list[tuple[str, str, int, str]], roles: dict[str, RoleReplica]
) -> WorkflowData:
    """Steps in order: approve moves to the next step (the last one completes the task); reject ends it."""
    names = [step for step, *_ in steps]
    transitions: list[TransitionData] = []
    for step, following in zip(names, [*names[1:], None], strict=True):
        transitions.append(TransitionData(from_step=step, action="approve", to_step=following))
        transitions.append(TransitionData(from_step=step, action="reject", to_step=None))
    return WorkflowData(
        name=name,
        description=f"Demo workflow: {' → '.join(names)}.",
        category=category,
        sub_category=sub_category,
        department="",
        coordinator_role_id=roles[COORDINATOR_ROLE].pk,
        sla_hours=DEMO_SLA_HOURS,
        steps=[
            StepData(
                name=step, order=i + 1, role_id=roles[role].pk, sla_weight=Decimal(weight), external_action=external
            )
            for i, (step, role, weight, external) in enumerate(steps)
        ],
        transitions=transitions,
    )
