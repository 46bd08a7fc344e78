"""The replica of the TTS role "Admin" gets the ``admin`` permission, as auth_service's migration 0002 gives it to
the role itself: administrators are now found by that permission (workflow_api.services.notify.admin_user_ids)."""
from django.db import migrations

ADMIN_PERMISSION = "admin"  # tts_common.http.auth.ADMIN_PERMISSION, frozen here as migrations must be


def grant_admin_permission(apps, schema_editor):
    RoleReplica = apps.get_model("workflow_api", "RoleReplica")
    for role in RoleReplica.objects.filter(system="TTS", name="Admin"):
        if ADMIN_PERMISSION not in role.permissions:
            role.permissions = [*role.permissions, ADMIN_PERMISSION]
            role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("workflow_api", "0006_sla_calendars")]

    operations = [migrations.RunPython(grant_admin_permission, migrations.RunPython.noop)]
