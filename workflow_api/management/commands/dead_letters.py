"""``manage.py dead_letters list|show ID|reprocess ID|discard ID|drain``: the dead-letter API of the admins, for
operators at a shell (same services, same rules; audited with no actor)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tts_common.base.errors import ApplicationError
from workflow_api.models import DeadLetter
from workflow_api.selectors.intake import dead_letter_get, dead_letter_list
from workflow_api.serializers import DeadLetterDetailSerializer
from workflow_api.services import dead_letters


class Command(BaseCommand):
    help = "List, show, reprocess or discard dead-lettered tickets; drain the dead-letter queue into the table now."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        listing = commands.add_parser("list", help="Dead letters, newest first.")
        listing.add_argument("--status", choices=DeadLetter.Status.values, default=DeadLetter.Status.PENDING)
        listing.add_argument("--limit", type=int, default=50)
        commands.add_parser("show", help="One dead letter as JSON.").add_argument("id", type=int)
        reprocess = commands.add_parser("reprocess", help="Republish the ticket to TICKET_TASKS_PRODUCTION.")
        reprocess.add_argument("id", type=int)
        reprocess.add_argument("--ticket", type=Path, help="A JSON file with a corrected ticket to publish instead.")
        reprocess.add_argument("--note", default="")
        discard = commands.add_parser("discard", help="Give the dead letter up.")
        discard.add_argument("id", type=int)
        discard.add_argument("--note", default="")
        commands.add_parser("drain", help="Move what waits in the dead-letter queue into the table now.")

    def handle(self, *args: Any, command: str, **options: Any) -> None:
        try:
            getattr(self, f"_{command}")(**options)
        except ApplicationError as exc:  # the services' 400/404/409
            raise CommandError(json.dumps(exc.fields or exc.message, default=str)) from exc

    def _list(self, *, status: str, limit: int, **_: Any) -> None:
        for letter in dead_letter_list().filter(status=status)[:limit]:
            self.stdout.write(
                f"{letter.pk:>8}  {letter.received_at:%Y-%m-%d %H:%M:%S}  {letter.ticket_id or '-':<24.24}  {letter.reason}"
            )

    def _show(self, *, id: int, **_: Any) -> None:
        letter = dead_letter_get(dead_letter_id=id)
        if letter is None:
            raise CommandError(f"No dead letter {id}.")
        self.stdout.write(json.dumps(DeadLetterDetailSerializer(letter).data, indent=2, default=str))

    def _reprocess(self, *, id: int, ticket: Path | None, note: str, **_: Any) -> None:
        try:
            corrected = json.loads(ticket.read_text()) if ticket is not None else None
        except (OSError, ValueError) as exc:
            raise CommandError(f"--ticket: {exc}") from exc
        dead_letters.dead_letter_reprocess(dead_letter_id=id, actor=None, ticket=corrected, note=note)
        self.stdout.write(self.style.SUCCESS(f"Dead letter {id} republished."))

    def _discard(self, *, id: int, note: str, **_: Any) -> None:
        dead_letters.dead_letter_discard(dead_letter_id=id, actor=None, note=note)
        self.stdout.write(self.style.SUCCESS(f"Dead letter {id} discarded."))

    def _drain(self, **_: Any) -> None:
        self.stdout.write(f"{dead_letters.dead_letters_drain()} new dead letter(s) stored.")
