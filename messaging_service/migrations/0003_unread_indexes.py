"""Indexes nothing reads, which every insert wrote: the pattern indexes Django built beside indexed text columns, and
the foreign-key indexes a composite index or unique constraint already starts with (why:
tts_common.postgresql.base.DatabaseSchemaEditor). Dropped CONCURRENTLY, outside a transaction (atomic = False): the
live tables are read and written meanwhile."""

import django.db.models.deletion
from django.db import migrations, models

from tts_common.postgresql.operations import drop_index_concurrently

PATTERN_INDEXES = [
    drop_index_concurrently("messaging_service_ticketparticipant_ticket_id_126e5c1a_like"),
    drop_index_concurrently("messaging_service_ticketreplica_ticket_id_973f92dc_like"),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging_service", "0002_ticket_participants"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ticketparticipant",
                    name="ticket",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="participants",
                        to="messaging_service.ticketreplica",
                    ),
                ),
            ],
            database_operations=[
                drop_index_concurrently(
                    "messaging_service_ticketparticipant_ticket_id_126e5c1a",
                    rebuild_on="messaging_service_ticketparticipant (ticket_id)",
                ),
            ],
        ),
        *PATTERN_INDEXES,
    ]
