"""Indexes nothing reads, which every insert wrote: the pattern indexes Django built beside indexed text columns, and
the foreign-key indexes a composite index or unique constraint already starts with (why:
tts_common.postgresql.base.DatabaseSchemaEditor). Dropped CONCURRENTLY, outside a transaction (atomic = False): the
live tables are read and written meanwhile."""

import uuid

import django.db.models.deletion
from django.db import migrations, models

from tts_common.postgresql.operations import drop_index_concurrently

PATTERN_INDEXES = [
    drop_index_concurrently("workflow_api_auditevent_action_f548ab97_like"),
    drop_index_concurrently("workflow_api_auditevent_ticket_id_9c95da31_like"),
    drop_index_concurrently("workflow_api_businesscalendar_name_72a17587_like"),
    drop_index_concurrently("workflow_api_deadletter_message_key_c063d910_like"),
    drop_index_concurrently("workflow_api_deadletter_ticket_id_ad6c71c5_like"),
    drop_index_concurrently("workflow_api_integrationerror_ticket_id_9f788439_like"),
    drop_index_concurrently("workflow_api_integrationhealth_name_ad8d1f45_like"),
    drop_index_concurrently("workflow_api_pendinghdtsstatus_ticket_id_48c7fddb_like"),
    drop_index_concurrently("workflow_api_task_external_ticket_id_1d5edbc2_like"),
    drop_index_concurrently("workflow_api_unroutedticket_ticket_id_3aa4ba0b_like"),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflow_api", "0024_report_visit_figures"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="assignment",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="assignments",
                        to="workflow_api.userreplica",
                    ),
                ),
                migrations.AlterField(
                    model_name="assignmentdecision",
                    name="role",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="workflow_api.rolereplica",
                    ),
                ),
                migrations.AlterField(
                    model_name="assignmentdecision",
                    name="task",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="decisions",
                        to="workflow_api.task",
                    ),
                ),
                migrations.AlterField(
                    model_name="task",
                    name="assigned_user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="assigned_tasks",
                        to="workflow_api.userreplica",
                    ),
                ),
                migrations.AlterField(
                    model_name="task",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="owned_tasks",
                        to="workflow_api.userreplica",
                    ),
                ),
                migrations.AlterField(
                    model_name="taskpause",
                    name="task",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pauses",
                        to="workflow_api.task",
                    ),
                ),
                migrations.AlterField(
                    model_name="userrole",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="roles",
                        to="workflow_api.userreplica",
                    ),
                ),
                migrations.AlterField(
                    model_name="workflow",
                    name="lineage",
                    field=models.UUIDField(default=uuid.uuid4),
                ),
                migrations.AlterField(
                    model_name="workflowstep",
                    name="workflow",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="steps",
                        to="workflow_api.workflow",
                    ),
                ),
                migrations.AlterField(
                    model_name="workflowtransition",
                    name="from_step",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="transitions",
                        to="workflow_api.workflowstep",
                    ),
                ),
            ],
            database_operations=[
                drop_index_concurrently(
                    "workflow_api_assignment_user_id_a367f164", rebuild_on="workflow_api_assignment (user_id)"
                ),
                drop_index_concurrently(
                    "workflow_api_assignmentdecision_role_id_9f0feecb",
                    rebuild_on="workflow_api_assignmentdecision (role_id)",
                ),
                drop_index_concurrently(
                    "workflow_api_assignmentdecision_task_id_467dce6a",
                    rebuild_on="workflow_api_assignmentdecision (task_id)",
                ),
                drop_index_concurrently(
                    "workflow_api_task_assigned_user_id_dd085f05", rebuild_on="workflow_api_task (assigned_user_id)"
                ),
                drop_index_concurrently(
                    "workflow_api_task_owner_id_443f9138", rebuild_on="workflow_api_task (owner_id)"
                ),
                drop_index_concurrently(
                    "workflow_api_taskpause_task_id_d4870d99", rebuild_on="workflow_api_taskpause (task_id)"
                ),
                drop_index_concurrently(
                    "workflow_api_userrole_user_id_79d80fd0", rebuild_on="workflow_api_userrole (user_id)"
                ),
                drop_index_concurrently(
                    "workflow_api_workflow_lineage_7493921b", rebuild_on="workflow_api_workflow (lineage)"
                ),
                drop_index_concurrently(
                    "workflow_api_workflowstep_workflow_id_f2570893",
                    rebuild_on="workflow_api_workflowstep (workflow_id)",
                ),
                drop_index_concurrently(
                    "workflow_api_workflowtransition_from_step_id_5a7c64ae",
                    rebuild_on="workflow_api_workflowtransition (from_step_id)",
                ),
            ],
        ),
        *PATTERN_INDEXES,
    ]
