"""Indexes nothing reads, dropped: every insert wrote them (the pattern indexes Django adds beside each indexed text
column). Without them intake at 1,000,000 tasks went from 0.86 to 0.99 of its rate on an empty database
(bench/README.md). No transaction (atomic = False): each is dropped CONCURRENTLY, so reads and writes of the live
tables go on meanwhile."""

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
