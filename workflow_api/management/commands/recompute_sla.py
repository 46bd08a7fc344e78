"""``manage.py recompute_sla [--workflow ID ...]``: recompute the SLA deadlines of open tasks from their creation
and pause logs, as a calendar or SLA-policy change does (idempotent: run it again after an interrupted one)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from workflow_api.models import Workflow
from workflow_api.services.deadlines import recompute_open_tasks


class Command(BaseCommand):
    help = "Recompute the SLA deadlines, step due times and next warnings of open tasks (all workflows by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workflow", type=int, action="append", dest="workflows", help="A workflow id (repeatable).")

    def handle(self, *args: Any, workflows: list[int] | None, **options: Any) -> None:
        workflow_ids = workflows or list(Workflow.objects.exclude(status=Workflow.Status.DRAFT).values_list("pk", flat=True))
        moved = recompute_open_tasks(workflow_ids=workflow_ids, now=timezone.now(), reason="manage.py recompute_sla")
        self.stdout.write(f"{moved} deadline(s) moved")
