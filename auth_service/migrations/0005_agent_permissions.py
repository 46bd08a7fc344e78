"""Role permissions are enforced from now on (tts_common.base.permissions). Until now every agent acted on, transferred and
escalated their own tasks whatever their roles said: every existing TTS role gets those permissions, so that nothing
changes for existing installs (what only admins did stays with the admin permission)."""
from django.db import migrations

# tts_common.base.permissions.AGENT_DEFAULTS, frozen here as migrations must be.
AGENT_DEFAULTS = ("task.act", "task.transfer", "task.escalate")


def grant_agent_defaults(apps, schema_editor):
    Role = apps.get_model("auth_service", "Role")
    for role in Role.objects.filter(system__code="TTS"):
        missing = [name for name in AGENT_DEFAULTS if name not in role.permissions]
        if missing:
            role.permissions = [*role.permissions, *missing]
            role.version += 1  # consumers keep the newest version; the next change publishes it
            role.save(update_fields=["permissions", "version"])


class Migration(migrations.Migration):
    dependencies = [("auth_service", "0004_audit_events")]

    operations = [migrations.RunPython(grant_agent_defaults, migrations.RunPython.noop)]
