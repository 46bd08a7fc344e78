"""Indexes nothing reads, which every insert wrote: the pattern indexes Django built beside indexed text columns (why:
tts_common.postgresql.base.DatabaseSchemaEditor). Dropped CONCURRENTLY, outside a transaction (atomic = False): the
live tables are read and written meanwhile."""

from django.db import migrations

from tts_common.postgresql.operations import drop_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ticket_service", "0002_outbox_replaces_republish"),
    ]

    operations = [
        drop_index_concurrently("ticket_service_hdtsticket_ticket_id_d8669976_like"),
        drop_index_concurrently("ticket_service_ticketstatusupdate_message_id_5f05807c_like"),
    ]
