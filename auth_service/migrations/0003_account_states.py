"""Every existing user gets its account state (tts_common.AccountState), which token checks now require: from here
on auth_service.receivers keeps it in step with the users table."""
from django.db import migrations


def record_account_states(apps, schema_editor):
    User = apps.get_model("auth_service", "User")
    AccountState = apps.get_model("tts_common", "AccountState")
    users = User.objects.values_list("pk", "is_active")
    AccountState.objects.bulk_create(
        [AccountState(user_id=pk, is_active=is_active) for pk, is_active in users],
        ignore_conflicts=True,
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [("auth_service", "0002_admin_role_permission"), ("tts_common", "0003_account_state")]

    operations = [migrations.RunPython(record_account_states, migrations.RunPython.noop)]
