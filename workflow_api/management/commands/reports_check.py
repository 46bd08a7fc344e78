"""``manage.py reports_check [--rebuild]``: recompute the report rollups from the raw rows (tasks, step visits,
assignments, SLA audit events) and print every 15-minute bucket, half hour (the days' running sums read back) and UTC
day by user where they differ; exit code 1 if any does.
``--rebuild`` then replaces the rollups with the recomputed ones."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflow_api.services.reports import KEY_COLUMNS, rebuild_rollups, rollup_differences


class Command(BaseCommand):
    help = "Compare the report rollups with a recomputation from the raw rows (and optionally rebuild them)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="Replace the rollups with the recomputed ones.")

    def handle(self, *args: Any, rebuild: bool, **options: Any) -> None:
        differences = rollup_differences()
        for key, (rollups, raw) in sorted(differences.items(), key=lambda item: str(item[0])):
            named = ", ".join(f"{name}={value}" for name, value in zip(("rollup", "at", *KEY_COLUMNS), key, strict=True))
            self.stdout.write(f"{named}: rollups (count, total) {rollups}, raw rows {raw}")
        self.stdout.write(f"{len(differences)} bucket(s), half hour(s) or day(s) differ")
        if rebuild:
            rebuild_rollups()
            self.stdout.write("rollups rebuilt from the raw rows")
        elif differences:
            raise CommandError("the rollups differ from the raw rows")
