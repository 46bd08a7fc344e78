"""``manage.py sync_ticket_participants``: send messaging_service the participants of every task again (who may
read each ticket's comments). Run it once after upgrading an install whose tasks predate the sync, while a worker
consumes ``messaging-ticket-participants``; running it again changes nothing."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflow_api.services.notify import republish_all_participants


class Command(BaseCommand):
    help = "Republish every task's participants (owner, assignee, past assignees) to messaging_service."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{republish_all_participants()} task(s) sent")
