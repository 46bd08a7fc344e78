"""Writes of the notification service: :mod:`.inapp` (notifications, read state), :mod:`.preferences`,
:mod:`.email_delivery` (email)."""
