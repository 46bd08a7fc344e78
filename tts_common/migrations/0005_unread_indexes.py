"""Indexes nothing reads, which every insert wrote: the pattern indexes Django built beside indexed text columns (why:
tts_common.postgresql.base.DatabaseSchemaEditor). Dropped CONCURRENTLY, outside a transaction (atomic = False): the
live tables are read and written meanwhile."""

from django.db import migrations

from tts_common.postgresql.operations import drop_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tts_common", "0004_outbox"),
    ]

    operations = [
        drop_index_concurrently("tts_common_datasetmarker_generator_47a50686_like"),
    ]
