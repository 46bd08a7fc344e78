"""``manage.py seed_demo``: the demo data of DESIGN §6 (idempotent). Demo passwords are in README.

Only into a database that is empty or that a generator wrote (tts_common.base.datasets): the demo's logins have
published passwords and ``admin`` is a superuser, so seeding a database that holds real users or tasks is refused.
"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

# The project wires the services together here, through their public service functions only.
from auth_service.selectors import user_count
from auth_service.services import DEMO_LOGINS, seed_demo_accounts
from tts_common.base.datasets import UnmarkedDataError, dataset_mark
from workflow_api.selectors.tasks import task_count
from workflow_api.services.demo import seed_demo_workflows
from workflow_api.services.replica import apply_role, apply_user_snapshots

DEMO_GENERATOR = "demo"


class Command(BaseCommand):
    help = (
        "Create the demo systems, roles, users and the two deployed demo workflows (idempotent). Refuses a database "
        "that holds users or tasks that no generator wrote."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                dataset_mark(generator=DEMO_GENERATOR, existing_rows={"users": user_count(), "tasks": task_count()})
                accounts = seed_demo_accounts()
                # The sync messages also reach workflow_api through the queue; applying the same payloads here lets
                # the workflows deploy before any worker runs (an older or equal version is ignored later).
                for role_data in accounts.roles:
                    apply_role(role_data)
                apply_user_snapshots(accounts.users)
                seed_demo_workflows()
        except UnmarkedDataError as refused:
            raise CommandError(str(refused)) from refused
        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins:"))
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.username:<8} {login.password:<16} {login.role}")
