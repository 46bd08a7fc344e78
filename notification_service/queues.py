"""The service's internal queue: email delivery runs apart from in-app storage, so slow SMTP never delays it."""
from tts_common.contracts import Route

EMAIL_DELIVERY = Route("notifications.send_email", "notification-email")
