"""Administrators are decided by the ``admin`` role permission, no longer by the role name "Admin": the TTS role of
that name, the only administrator role until now, gets the permission so that its holders stay administrators."""
from django.db import migrations

ADMIN_PERMISSION = "admin"  # tts_common.http.auth.ADMIN_PERMISSION, frozen here as migrations must be


def grant_admin_permission(apps, schema_editor):
    Role = apps.get_model("auth_service", "Role")
    for role in Role.objects.filter(system__code="TTS", name="Admin"):
        if ADMIN_PERMISSION not in role.permissions:
            role.permissions = [*role.permissions, ADMIN_PERMISSION]
            role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("auth_service", "0001_initial")]

    operations = [migrations.RunPython(grant_admin_permission, migrations.RunPython.noop)]
