"""Indexes nothing reads, which every insert wrote: the pattern indexes Django built beside indexed text columns (why:
tts_common.postgresql.base.DatabaseSchemaEditor). Dropped CONCURRENTLY, outside a transaction (atomic = False): the
live tables are read and written meanwhile."""

from django.db import migrations

from tts_common.postgresql.operations import drop_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("notification_service", "0004_dead_letter_notices"),
    ]

    operations = [
        drop_index_concurrently("notification_service_inappnotification_dedup_key_e9441486_like"),
    ]
