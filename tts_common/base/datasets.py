"""Dataset markers: generated data (the demo, a generated history) goes only into a database that is empty or that
a generator wrote before, never into one holding data people entered."""
from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from tts_common.models import DatasetMarker


class UnmarkedDataError(Exception):
    """The database holds data that no generator wrote: a generator must not write into it."""


@transaction.atomic
def dataset_mark(*, generator: str, existing_rows: Mapping[str, int]) -> None:
    """Record that ``generator`` writes into this database; call it in the transaction that writes the data.

    ``existing_rows`` counts what the database held before (e.g. ``{"users": 3, "tasks": 0}``): with any of it and
    no marker at all, raises ``UnmarkedDataError`` and writes nothing. Idempotent once marked.
    """
    if not DatasetMarker.objects.exists() and any(existing_rows.values()):
        held = ", ".join(f"{name}: {count}" for name, count in existing_rows.items())
        raise UnmarkedDataError(
            f"This database has no dataset marker but holds data ({held}): no generator wrote it (real data?), so "
            f"{generator!r} data is not added to it. Use an empty database (embedded default: remove var/), or one a "
            f"generator wrote."
        )
    DatasetMarker.objects.get_or_create(generator=generator)
