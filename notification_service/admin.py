from django.contrib import admin

from .models import EmailDelivery, InAppNotification, NotificationPreference, RejectedMessage


@admin.register(InAppNotification)
class InAppNotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "notification_type", "subject", "is_read", "created_at"]
    list_filter = ["notification_type", "is_read"]
    search_fields = ["subject", "related_task_id", "related_ticket_id"]


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "notification_id", "user_id", "to_email", "status", "attempts", "updated_at"]
    list_filter = ["status"]
    raw_id_fields = ["notification"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user_id", "email_types", "updated_at"]


@admin.register(RejectedMessage)
class RejectedMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "task_name", "reason", "retries", "created_at"]
