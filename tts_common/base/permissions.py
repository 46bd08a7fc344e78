"""The role permissions of the TTS system: the single place their names are written down, each with what it allows.

A user's permissions are the union of those of their active TTS roles; ``admin`` implies every other one (and is what
makes an administrator: decided by permission, never by a role's name, so renaming a role grants nothing). The auth
service refuses any other name on a role, puts the user's permissions in the access token (the ``permissions``
claim), and every service checks them from there (:mod:`tts_common.http.auth`).
"""
from __future__ import annotations

from collections.abc import Iterable

ADMIN = "admin"
TASK_ACT = "task.act"
TASK_TRANSFER = "task.transfer"
TASK_ESCALATE = "task.escalate"
TASK_BULK = "task.bulk"
WORKFLOW_MANAGE = "workflow.manage"
CALENDAR_MANAGE = "calendar.manage"
REPORTS_VIEW = "reports.view"
DEAD_LETTERS_MANAGE = "dead_letters.manage"
USERS_MANAGE = "users.manage"

# Name -> what it allows (shown next to each checkbox on the Roles page and in README).
PERMISSIONS: dict[str, str] = {
    ADMIN: "Everything, including what no other permission covers (any task, the engine's audit log, integration "
    "health, email deliveries, tasks created by hand, deciding external approvals); implies every permission below.",
    TASK_ACT: "Act on one's own tasks: approve, reject, hold, resume.",
    TASK_TRANSFER: "Transfer one's own tasks to another user.",
    TASK_ESCALATE: "Escalate one's own tasks.",
    TASK_BULK: "Act on many selected tasks at once.",
    WORKFLOW_MANAGE: "Create, edit, deploy and archive workflows; run the routing simulator.",
    CALENDAR_MANAGE: "Create, edit and delete business calendars.",
    REPORTS_VIEW: "Read every report (without it: one's own figures, a lead's role's) and the fairness view per role.",
    DEAD_LETTERS_MANAGE: "Intake: dead letters (reprocess, discard), integration errors, unrouted tickets.",
    USERS_MANAGE: "Users, roles and their permissions, role membership, others' availability, the auth audit log.",
}
PERMISSION_NAMES: frozenset[str] = frozenset(PERMISSIONS)

# What every agent could do before permissions were enforced (act on, transfer and escalate their own tasks): what
# roles created without a permission list get, and what existing roles were given when enforcement began.
AGENT_DEFAULTS: tuple[str, ...] = (TASK_ACT, TASK_TRANSFER, TASK_ESCALATE)


def unknown_permissions(names: Iterable[str]) -> list[str]:
    """The names of ``names`` that are not permissions, sorted."""
    return sorted(set(names) - PERMISSION_NAMES)


def effective_permissions(granted: Iterable[str]) -> list[str]:
    """The permissions ``granted`` amounts to, sorted: all of them with ``admin``; unknown names ignored."""
    held = set(granted) & PERMISSION_NAMES
    return sorted(PERMISSION_NAMES if ADMIN in held else held)
