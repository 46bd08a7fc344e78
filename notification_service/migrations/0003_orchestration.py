"""Notification orchestration: per-type email modes, unread delay, quiet hours, daily digests.

The older ``email_types`` list becomes ``email_modes``: a listed type is ``immediate``, every other type ``off``.
"""
import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import notification_service.models
from notification_service.conf import DEFAULT_EMAIL_TYPES
from tts_common.contracts.messages import NOTIFICATION_TYPES


def email_types_to_modes(apps, schema_editor):
    preferences = apps.get_model("notification_service", "NotificationPreference")
    for preference in preferences.objects.all():
        listed = set(preference.email_types)
        preference.email_modes = {t: "immediate" if t in listed else "off" for t in NOTIFICATION_TYPES}
        preference.save(update_fields=["email_modes"])


def email_modes_to_types(apps, schema_editor):
    preferences = apps.get_model("notification_service", "NotificationPreference")
    for preference in preferences.objects.all():
        modes = preference.email_modes
        preference.email_types = [
            t for t in NOTIFICATION_TYPES if modes.get(t, "immediate" if t in DEFAULT_EMAIL_TYPES else "off") != "off"
        ]
        preference.save(update_fields=["email_types"])


class Migration(migrations.Migration):

    dependencies = [
        ('notification_service', '0002_external_notification_types'),
    ]

    operations = [
        migrations.AddField(
            model_name='emaildelivery',
            name='mode',
            field=models.CharField(choices=[('immediate', 'Immediate'), ('if_unread', 'If Unread'), ('digest', 'Digest')], default='immediate', max_length=16),
        ),
        migrations.AddField(
            model_name='emaildelivery',
            name='not_before',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='notificationpreference',
            name='digest_hour',
            field=models.PositiveSmallIntegerField(default=8, validators=[django.core.validators.MaxValueValidator(23)]),
        ),
        migrations.AddField(
            model_name='notificationpreference',
            name='email_modes',
            field=models.JSONField(default=dict),
        ),
        migrations.AddField(
            model_name='notificationpreference',
            name='quiet_hours_end',
            field=models.TimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='notificationpreference',
            name='quiet_hours_exempt_types',
            field=models.JSONField(default=list),
        ),
        migrations.AddField(
            model_name='notificationpreference',
            name='quiet_hours_start',
            field=models.TimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='notificationpreference',
            name='time_zone',
            field=models.CharField(default='UTC', max_length=64, validators=[notification_service.models.validate_time_zone]),
        ),
        migrations.AddField(
            model_name='notificationpreference',
            name='unread_delay_minutes',
            field=models.PositiveIntegerField(default=15, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(10080)]),
        ),
        migrations.CreateModel(
            name='Digest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('user_id', models.BigIntegerField()),
                ('local_date', models.DateField()),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('empty', 'Empty'), ('failed', 'Failed'), ('skipped', 'Skipped')], default='pending', max_length=16)),
                ('to_email', models.EmailField(blank=True, max_length=254)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('claim_token', models.CharField(blank=True, editable=False, max_length=32)),
                ('claimed_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(condition=models.Q(('status__in', ['pending', 'sending'])), fields=['status'], name='digest_open')],
                'constraints': [models.UniqueConstraint(fields=('user_id', 'local_date'), name='digest_once_per_user_day')],
            },
        ),
        migrations.AddField(
            model_name='emaildelivery',
            name='digest',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='deliveries', to='notification_service.digest'),
        ),
        migrations.AddIndex(
            model_name='emaildelivery',
            index=models.Index(condition=models.Q(('not_before__isnull', False), ('status', 'pending')), fields=['not_before'], name='email_delivery_due'),
        ),
        migrations.RunPython(email_types_to_modes, email_modes_to_types),
        migrations.RemoveField(
            model_name='notificationpreference',
            name='email_types',
        ),
        migrations.AddIndex(
            model_name='emaildelivery',
            index=models.Index(condition=models.Q(('digest__isnull', True), ('mode', 'digest'), ('status', 'pending')), fields=['user_id'], name='email_delivery_undigested'),
        ),
    ]
