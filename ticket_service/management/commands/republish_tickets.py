from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ticket_service import services


class Command(BaseCommand):
    help = "Publish stored HDTS tickets that never reached the broker (published_at is null), oldest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="at most this many (default: all)")
        parser.add_argument(
            "--min-age",
            type=float,
            default=services.REPUBLISH_MIN_AGE.total_seconds(),
            help="skip tickets younger than this many seconds (their intake may still be publishing them)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        published, failed = services.republish_pending(
            limit=options["limit"], min_age=timedelta(seconds=options["min_age"])
        )
        self.stdout.write(f"republished {published} tickets")
        if failed:
            raise CommandError("the broker is unreachable; the remaining tickets stay pending")
