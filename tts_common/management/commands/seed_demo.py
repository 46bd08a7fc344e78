"""``manage.py seed_demo``: the demo data of DESIGN §6 (idempotent). Demo passwords are in README."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Create the demo systems, roles, users and the two deployed demo workflows (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        # The project wires the services together here, through their public service functions only.
        from auth_service.services import DEMO_LOGINS, seed_demo_accounts
        from workflow_api.services.demo import seed_demo_workflows
        from workflow_api.services.replica import apply_role, apply_user_snapshots

        with transaction.atomic():
            accounts = seed_demo_accounts()
            # The sync messages also reach workflow_api through the queue; applying the same payloads here lets
            # the workflows deploy before any worker runs (an older or equal version is ignored later).
            for role_data in accounts.roles:
                apply_role(role_data)
            apply_user_snapshots(accounts.users)
            seed_demo_workflows()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins:"))
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.username:<8} {login.password:<16} {login.role}")
