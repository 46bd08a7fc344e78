"""Act as HDTS: publish generated tickets to TICKET_TASKS_PRODUCTION exactly as HDTS does (DESIGN §2), for demos
and load. Uses its own plain Celery app with default settings, not TTS's, so it also proves that an outside
producer and our workers agree on the queue declaration."""
from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from celery import Celery
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from ticket_service import hdts_simulator
from ticket_service.services import receive_ticket_kwargs
from tts_common import contracts


def hdts_celery_app() -> Celery:
    """A producer app configured as HDTS's would be: the broker URL and nothing else."""
    app = Celery("hdts-simulator", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    if settings.EMBEDDED_BROKER:
        # The filesystem transport has no server: the producer must use the folders the workers poll.
        app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    return app


class Command(BaseCommand):
    help = "Publish generated HDTS tickets to TICKET_TASKS_PRODUCTION, as HDTS does, at a given rate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=100, help="messages to publish (default 100)")
        parser.add_argument("--rate", type=float, default=0, help="messages per second; 0 = as fast as possible")
        parser.add_argument("--duplicates", type=float, default=0.0, metavar="P",
                            help="probability that a message resends an earlier ticket (0-1)")
        parser.add_argument("--invalid", type=float, default=0.0, metavar="P",
                            help="probability that a message is an invalid ticket (0-1)")
        parser.add_argument("--signed", action="store_true", help="sign messages with HDTS_SIGNING_SECRET")
        parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
        parser.add_argument("--prefix", default=None, help="ticket id prefix (default: HDTS-<seed>, unique per run)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        count, rate = options["count"], options["rate"]
        if count < 0 or rate < 0:
            raise CommandError("--count and --rate must not be negative")
        if not (0 <= options["duplicates"] <= 1 and 0 <= options["invalid"] <= 1):
            raise CommandError("--duplicates and --invalid are probabilities between 0 and 1")
        if options["signed"] and not settings.HDTS_SIGNING_SECRET:
            raise CommandError("--signed needs HDTS_SIGNING_SECRET")
        seed = options["seed"] if options["seed"] is not None else time.time_ns() % 1_000_000_007
        stream = hdts_simulator.ticket_stream(
            count,
            duplicates=options["duplicates"],
            invalid=options["invalid"],
            seed=seed,
            prefix=options["prefix"] or f"HDTS-{seed}",
            now=timezone.now(),
        )
        app = hdts_celery_app()
        sent: Counter[str] = Counter()
        started = time.monotonic()
        try:
            with tqdm(total=count, unit="ticket", file=sys.stderr, disable=options["no_progress"]) as progress:
                for n, (kind, ticket) in enumerate(stream):
                    if rate:  # pace against the start, so a slow send is caught up rather than accumulated
                        delay = started + n / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    kwargs = receive_ticket_kwargs(ticket) if options["signed"] else {"ticket_data": ticket}
                    app.send_task(contracts.RECEIVE_TICKET.task, kwargs=kwargs, queue=contracts.RECEIVE_TICKET.queue)
                    sent[kind] += 1
                    progress.update()
        finally:
            app.close()
        elapsed = time.monotonic() - started
        total = sum(sent.values())
        self.stdout.write(
            f"sent {total} tickets (valid {sent[hdts_simulator.VALID]}, duplicates {sent[hdts_simulator.DUPLICATE]}, "
            f"invalid {sent[hdts_simulator.INVALID]}) to {contracts.RECEIVE_TICKET.queue} in {elapsed:.2f}s "
            f"({total / elapsed if elapsed else 0:.0f} tickets/s); seed {seed}"
        )
