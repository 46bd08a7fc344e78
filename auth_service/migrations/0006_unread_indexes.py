"""Indexes nothing reads, which every insert wrote: the pattern indexes Django built beside indexed text columns, and
the foreign-key indexes a composite index or unique constraint already starts with (why:
tts_common.postgresql.base.DatabaseSchemaEditor). Dropped CONCURRENTLY, outside a transaction (atomic = False): the
live tables are read and written meanwhile."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tts_common.postgresql.operations import drop_index_concurrently

PATTERN_INDEXES = [
    drop_index_concurrently("auth_service_system_code_e5107f15_like"),
    drop_index_concurrently("auth_service_user_username_fcb8d1ed_like"),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("auth_service", "0005_agent_permissions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="role",
                    name="system",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="roles",
                        to="auth_service.system",
                    ),
                ),
                migrations.AlterField(
                    model_name="usersystemrole",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="system_roles",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                drop_index_concurrently(
                    "auth_service_role_system_id_988274a5", rebuild_on="auth_service_role (system_id)"
                ),
                drop_index_concurrently(
                    "auth_service_usersystemrole_user_id_d92bda55", rebuild_on="auth_service_usersystemrole (user_id)"
                ),
            ],
        ),
        *PATTERN_INDEXES,
    ]
