"""Indexes nothing reads, dropped: every insert wrote them (the pattern indexes Django adds beside each indexed text
column, and the foreign-key indexes a composite index or unique constraint already starts with). Without them intake
at 1,000,000 tasks went from 0.86 to 0.99 of its rate on an empty database (bench/README.md). No transaction (atomic
= False): each is dropped CONCURRENTLY, so reads and writes of the live tables go on meanwhile."""

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
