"""Service functions against the database: storage and idempotency, preferences, email attempts and retries."""
from __future__ import annotations

import pytest
from django.core import mail

from notification_service import conf, selectors
from notification_service.models import EmailDelivery, InAppNotification
from notification_service.services import email_delivery, inapp, preferences
from tests.conftest import free_port

from .conftest import draft

pytestmark = pytest.mark.django_db


def test_batch_is_stored_once_per_dedup_key(after_commit):
    created = after_commit(inapp.create_notifications, drafts=[draft(), draft(), draft(message="other")])
    assert len(created) == 2 and all(n.id for n in created)
    assert after_commit(inapp.create_notifications, drafts=[draft(), draft(message="third")])[0].message == "third"
    assert InAppNotification.objects.count() == 3
    assert sorted(after_commit.pushed) == sorted(InAppNotification.objects.values_list("id", flat=True))


def test_email_deliveries_follow_default_preferences(after_commit):
    created = after_commit(
        inapp.create_notifications,
        drafts=[draft(notification_type="task_assignment"), draft(notification_type="comment_added")],
    )
    [delivery] = EmailDelivery.objects.all()
    assert delivery.notification.notification_type == "task_assignment"
    assert delivery.status == EmailDelivery.Status.PENDING
    assert after_commit.queued == [delivery.id]
    assert len(created) == 2


def test_email_deliveries_follow_user_preferences(after_commit):
    preferences.update_preferences(user_id=1, email_types=["comment_added"])
    after_commit(
        inapp.create_notifications,
        drafts=[draft(notification_type="task_assignment"), draft(notification_type="comment_added")],
    )
    assert list(EmailDelivery.objects.values_list("notification__notification_type", flat=True)) == ["comment_added"]


def test_redelivery_requeues_an_email_that_was_never_attempted(after_commit):
    after_commit(inapp.create_notifications, drafts=[draft()])
    after_commit(inapp.create_notifications, drafts=[draft()])
    delivery = EmailDelivery.objects.get()
    assert after_commit.queued == [delivery.id, delivery.id]
    EmailDelivery.objects.update(attempts=1)  # once attempted, its own retry chain owns it
    after_commit(inapp.create_notifications, drafts=[draft()])
    assert after_commit.queued == [delivery.id, delivery.id]
    assert after_commit.pushed == [delivery.notification_id]


def test_preferences_default_and_replace():
    assert selectors.preference_get(user_id=9).email_types() == list(conf.DEFAULT_EMAIL_TYPES)
    chosen = preferences.update_preferences(user_id=9, email_types=["sla_warning", "task_assignment", "sla_warning"])
    assert chosen.email_types() == ["task_assignment", "sla_warning"]
    assert selectors.preference_get(user_id=9).email_types() == ["task_assignment", "sla_warning"]
    assert preferences.update_preferences(user_id=9, email_types=[]).email_types() == []


def test_mark_read_and_mark_all_read(after_commit):
    first, second = after_commit(inapp.create_notifications, drafts=[draft(message="1"), draft(message="2")])
    after_commit(inapp.create_notifications, drafts=[draft(user_id=2)])
    read = inapp.mark_read(notification=first)
    assert read.is_read and read.read_at
    read_at = read.read_at
    assert inapp.mark_read(notification=InAppNotification.objects.get(id=first.id)).read_at == read_at
    assert selectors.unread_counts(user_ids=[1, 2, 3]) == {1: 1, 2: 1, 3: 0}
    assert inapp.mark_all_read(user_id=1) == 1
    assert selectors.unread_counts(user_ids=[1, 2]) == {1: 0, 2: 1}


# --- Email attempts ---------------------------------------------------------------------------------------------
def test_email_is_sent_to_the_users_address(delivery_for, auth_stub):
    auth_stub.add_user(1, "one@example.com")
    delivery = delivery_for(1, subject="Task\nassigned", related_task_id="T-1", related_ticket_id="TX-1")
    assert email_delivery.deliver_emails(delivery_ids=[delivery.id]) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.to_email) == ("sent", 1, "one@example.com")
    assert delivery.sent_at
    [email] = mail.outbox
    assert email.to == ["one@example.com"] and email.subject == "Task assigned"
    assert "Task: T-1" in email.body and "Ticket: TX-1" in email.body
    # A duplicate message for a sent delivery sends nothing.
    assert email_delivery.deliver_emails(delivery_ids=[delivery.id]) is None
    assert len(mail.outbox) == 1


def test_permanent_recipient_problems_are_not_retried(delivery_for, auth_stub):
    auth_stub.add_user(2, "two@example.com", is_active=False)
    auth_stub.add_user(3, "")
    missing, inactive, no_email = delivery_for(404), delivery_for(2), delivery_for(3)
    assert email_delivery.deliver_emails(delivery_ids=[missing.id, inactive.id, no_email.id]) is None
    statuses = dict(EmailDelivery.objects.values_list("user_id", "status"))
    assert statuses == {404: "failed", 2: "skipped", 3: "failed"}
    assert EmailDelivery.objects.get(user_id=3).last_error == "user has no email address"
    assert mail.outbox == []


def test_auth_outage_is_retried(delivery_for, auth_stub):
    delivery = delivery_for(1)
    auth_stub.down = True
    retry = email_delivery.deliver_emails(delivery_ids=[delivery.id])
    assert retry and retry.delivery_ids == [delivery.id]
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "auth service" in delivery.last_error


def test_smtp_outage_is_retried_with_backoff_then_fails(delivery_for, auth_stub, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    auth_stub.add_user(1, "one@example.com")
    delivery = delivery_for(1)
    countdowns = []
    for attempt in range(1, conf.EMAIL_MAX_ATTEMPTS):
        retry = email_delivery.deliver_emails(delivery_ids=[delivery.id])
        assert retry.delivery_ids == [delivery.id]
        countdowns.append(retry.countdown)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", attempt)
    assert email_delivery.deliver_emails(delivery_ids=[delivery.id]) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", conf.EMAIL_MAX_ATTEMPTS)
    assert "ConnectionRefusedError" in delivery.last_error
    # 2^n s with jitter: within [2^n / 2, 2^n] for n = 1..5.
    assert all(2**n / 2 <= c <= 2**n for n, c in enumerate(countdowns, start=1))


def test_a_delivery_being_sent_is_not_claimed_twice_unless_its_holder_died(delivery_for, auth_stub):
    auth_stub.add_user(1, "one@example.com")
    delivery = delivery_for(1)
    EmailDelivery.objects.filter(id=delivery.id).update(status="sending", claimed_at=delivery.created_at)
    assert email_delivery.deliver_emails(delivery_ids=[delivery.id]) is None
    assert mail.outbox == []
    email_delivery.deliver_emails(delivery_ids=[delivery.id], reclaim=True)
    assert len(mail.outbox) == 1


def test_only_failed_deliveries_can_be_retried(delivery_for, after_commit):
    delivery = delivery_for(1)
    with pytest.raises(email_delivery.DeliveryNotRetryable):
        email_delivery.retry_delivery(delivery=delivery)
    EmailDelivery.objects.filter(id=delivery.id).update(status="failed", attempts=6, last_error="boom")
    delivery.refresh_from_db()
    after_commit.queued.clear()
    retried = after_commit(email_delivery.retry_delivery, delivery=delivery)
    assert (retried.status, retried.attempts, retried.last_error) == ("pending", 0, "boom")
    assert after_commit.queued == [delivery.id]
