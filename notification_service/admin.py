from django.contrib import admin

from .models import Digest, EmailDelivery, InAppNotification, NotificationPreference, RejectedMessage


@admin.register(InAppNotification)
class InAppNotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "notification_type", "subject", "is_read", "created_at"]
    list_filter = ["notification_type", "is_read"]
    search_fields = ["subject", "related_task_id", "related_ticket_id"]


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "notification_id", "user_id", "mode", "not_before", "to_email", "status", "attempts", "updated_at"]
    list_filter = ["status", "mode"]
    raw_id_fields = ["notification", "digest"]


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "local_date", "to_email", "status", "attempts", "sent_at"]
    list_filter = ["status"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user_id", "email_types", "time_zone", "quiet_hours_start", "quiet_hours_end", "digest_hour", "updated_at"]


@admin.register(RejectedMessage)
class RejectedMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "task_name", "reason", "retries", "created_at"]
