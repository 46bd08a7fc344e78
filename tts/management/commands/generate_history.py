"""``manage.py generate_history --tasks N [--seed S]``: a realistic help-desk history for scale work (tts.history)."""
from __future__ import annotations

import sys
import time
from dataclasses import fields
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from tts import history
from tts_common.base.datasets import UnmarkedDataError


def _ratios_help() -> str:
    return "; ".join(f"{f.name.replace('_', ' ')} {getattr(history.RATIOS, f.name)}" for f in fields(history.Ratios))


class Command(BaseCommand):
    help = (
        "Write a reproducible history of N tasks over the last two years into every service's tables: "
        f"{len(history.ROLES)} roles of {history.ROLE_MEMBERS} agents (password {history.GENERATED_PASSWORD!r}) and an "
        f"admin, {len(history.WORKFLOWS)} workflows in several versions, tasks in every status with their step "
        "instances, assignments and decisions, holds, audit events, notifications and comments. Per task and step: "
        + _ratios_help()
        + ". Same --tasks and --seed give the same history (relative to now). Only into an empty database or one "
        "a generator wrote (the demo, another history): it writes the same dataset marker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tasks", type=int, required=True, help="how many tasks (e.g. 1000000)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1); one history per seed")
        parser.add_argument("--chunk", type=int, default=5000, help="tasks per transaction (default 5000)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, tasks: int, seed: int, chunk: int, no_progress: bool, **options: Any) -> None:
        if tasks < 1 or chunk < 1:
            raise CommandError("--tasks and --chunk must be at least 1")
        started = time.monotonic()
        with tqdm(total=tasks, unit="task", file=sys.stderr, disable=no_progress) as bar:
            try:
                summary = history.generate(tasks=tasks, seed=seed, chunk=chunk, progress=bar.update)
            except (ValueError, UnmarkedDataError) as exc:
                raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        rows = ", ".join(f"{count:,} {name}" for name, count in summary.rows.items())
        self.stdout.write(f"generated {summary.tasks:,} tasks in {elapsed:.0f} s ({summary.tasks / elapsed:,.0f}/s): {rows}")
