"""Email orchestration against the database: the mode of each type, quiet hours, unread delays and daily digests."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from notification_service import conf
from notification_service.models import Digest, EmailDelivery, InAppNotification, NotificationPreference
from notification_service.services import email_delivery, inapp, preferences
from tests.conftest import free_port, run_concurrently

from .conftest import draft

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


def at(text: str, zone: str = "UTC") -> datetime:
    """An aware instant from a local ``YYYY-MM-DD HH:MM`` in the given zone."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def preference(**fields) -> NotificationPreference:
    return NotificationPreference(user_id=1, **fields)


# --- Which email, and when --------------------------------------------------------------------------------------
def test_each_type_follows_its_mode_and_the_in_app_notice_is_always_stored(after_commit, settings):
    settings.NOTIFICATION_MINUTE_SECONDS = 60
    preferences.update_preferences(
        user_id=1,
        unread_delay_minutes=10,
        email_modes={
            "task_assignment": "immediate", "comment_added": "if_unread", "sla_warning": "digest",
            "task_escalation": "off",
        },
    )  # fmt: skip
    before = timezone.now()
    types = ["task_assignment", "comment_added", "sla_warning", "task_escalation", "sla_breach"]
    after_commit(inapp.create_notifications, drafts=[draft(notification_type=t) for t in types])

    assert sorted(InAppNotification.objects.values_list("notification_type", flat=True)) == sorted(types)
    deliveries = {d.notification.notification_type: d for d in EmailDelivery.objects.select_related("notification")}
    assert {t: d.mode for t, d in deliveries.items()} == {
        "task_assignment": "immediate", "comment_added": "if_unread", "sla_warning": "digest",
        "sla_breach": "immediate",  # not named: its default
    }  # fmt: skip
    delay = deliveries["comment_added"].not_before - before
    assert timedelta(minutes=10) <= delay < timedelta(minutes=10, seconds=30)
    assert deliveries["task_assignment"].not_before is None and deliveries["sla_warning"].not_before is None
    # Only the emails due now are queued: the scheduled one waits for the due job, the digest one for its digest.
    assert sorted(after_commit.queued) == sorted([deliveries["task_assignment"].id, deliveries["sla_breach"].id])


def test_the_minute_of_the_unread_delay_is_a_setting(settings):
    settings.NOTIFICATION_MINUTE_SECONDS = 0.5
    plan = preferences.email_plan(preference(email_modes={"comment_added": "if_unread"}, unread_delay_minutes=4),
                               "comment_added", at("2026-03-02 10:00"))  # fmt: skip
    assert plan == preferences.EmailPlan("if_unread", at("2026-03-02 10:00") + timedelta(seconds=2))


BERLIN_NIGHT = {"time_zone": "Europe/Berlin", "quiet_hours_start": time(22), "quiet_hours_end": time(7)}


@pytest.mark.parametrize(
    "quiet, now, due",
    [
        # Wrapping midnight in Berlin (CEST, UTC+2): before midnight it ends the next morning, after it the same one.
        (BERLIN_NIGHT, at("2026-06-10 23:30", "Europe/Berlin"), at("2026-06-11 07:00", "Europe/Berlin")),
        (BERLIN_NIGHT, at("2026-06-11 05:00", "Europe/Berlin"), at("2026-06-11 07:00", "Europe/Berlin")),
        (BERLIN_NIGHT, at("2026-06-10 21:59", "Europe/Berlin"), None),
        (BERLIN_NIGHT, at("2026-06-11 07:00", "Europe/Berlin"), None),  # the end is not quiet any more
        (BERLIN_NIGHT, at("2026-06-10 20:30"), at("2026-06-11 05:00")),  # 22:30 in Berlin: the same night in UTC
        # Winter in Berlin is UTC+1: the same local window is an hour later in UTC.
        (BERLIN_NIGHT, at("2026-01-10 23:30"), at("2026-01-11 06:00")),
        # A window within one day, in New York (EST, UTC-5).
        ({"time_zone": "America/New_York", "quiet_hours_start": time(12), "quiet_hours_end": time(13, 30)},
         at("2026-01-15 17:15"), at("2026-01-15 18:30")),  # fmt: skip
        ({"time_zone": "America/New_York", "quiet_hours_start": time(12), "quiet_hours_end": time(13, 30)},
         at("2026-01-15 16:59"), None),  # fmt: skip
        ({"time_zone": "UTC"}, at("2026-01-15 03:00"), None),  # no quiet hours
    ],
)
def test_immediate_email_inside_quiet_hours_waits_for_their_end(quiet, now, due):
    plan = preferences.email_plan(preference(**quiet), "task_assignment", now)
    assert plan == preferences.EmailPlan("immediate", due)


def test_an_unread_delay_ending_in_quiet_hours_waits_for_their_end(settings):
    settings.NOTIFICATION_MINUTE_SECONDS = 60
    chosen = preference(
        email_modes={"comment_added": "if_unread"}, unread_delay_minutes=60,
        quiet_hours_start=time(22), quiet_hours_end=time(7),
    )  # fmt: skip
    assert preferences.email_plan(chosen, "comment_added", at("2026-05-01 21:30")).not_before == at("2026-05-02 07:00")
    assert preferences.email_plan(chosen, "comment_added", at("2026-05-01 20:30")).not_before == at("2026-05-01 21:30")


def test_exempt_types_and_digests_ignore_quiet_hours():
    chosen = preference(
        quiet_hours_start=time(22), quiet_hours_end=time(7), quiet_hours_exempt_types=["sla_breach"],
        email_modes={"sla_warning": "digest", "comment_added": "off"},
    )  # fmt: skip
    night = at("2026-05-01 23:00")
    assert preferences.email_plan(chosen, "sla_breach", night) == preferences.EmailPlan("immediate", None)
    assert preferences.email_plan(chosen, "task_escalation", night) == preferences.EmailPlan("immediate", at("2026-05-02 07:00"))
    assert preferences.email_plan(chosen, "sla_warning", night) == preferences.EmailPlan("digest", None)
    assert preferences.email_plan(chosen, "comment_added", night) is None


# --- Scheduled deliveries ---------------------------------------------------------------------------------------
@pytest.fixture
def scheduled(after_commit, settings):
    """Two if_unread deliveries of user 1, due a minute after they were stored."""
    settings.NOTIFICATION_MINUTE_SECONDS = 60
    preferences.update_preferences(user_id=1, email_modes={"comment_added": "if_unread"}, unread_delay_minutes=1)
    first, second = after_commit(
        inapp.create_notifications,
        drafts=[draft(notification_type="comment_added", subject=s) for s in ("first", "second")],
    )
    return first.email_delivery, second.email_delivery


def test_unread_notice_is_released_when_due_and_a_read_one_is_skipped(scheduled, after_commit):
    unread, read = scheduled
    inapp.mark_read(notification=read.notification)
    assert after_commit(email_delivery.release_due_deliveries) == 0  # not due yet
    due = unread.not_before + timedelta(seconds=1)

    assert after_commit(email_delivery.release_due_deliveries, now=due) == 2
    assert after_commit.queued == [unread.id]
    unread.refresh_from_db()
    read.refresh_from_db()
    assert (unread.status, unread.not_before) == ("pending", None)
    assert (read.status, read.last_error) == ("skipped", "read before the email was due")
    assert after_commit(email_delivery.release_due_deliveries, now=due) == 0  # released once
    assert after_commit.queued == [unread.id]


def test_a_notice_read_after_release_is_skipped_at_send_time(scheduled, delivery_for, auth_stub, after_commit):
    auth_stub.add_user(1, "one@example.com")
    unread, read_late = scheduled
    after_commit(email_delivery.release_due_deliveries, now=unread.not_before + timedelta(seconds=1))
    inapp.mark_read(notification=read_late.notification)
    assert email_delivery.deliver_emails(delivery_ids=[unread.id, read_late.id]) is None
    assert dict(EmailDelivery.objects.values_list("id", "status")) == {unread.id: "sent", read_late.id: "skipped"}
    assert [m.subject for m in mail.outbox] == ["first"]


def test_scheduled_and_digest_deliveries_are_not_sent_early(scheduled, delivery_for, auth_stub, after_commit):
    """Neither the sweep nor a stray message sends a delivery before it is due, or a digest one on its own."""
    auth_stub.add_user(1, "one@example.com")
    preferences.update_preferences(user_id=1, email_modes={"sla_warning": "digest"})
    [digest_one] = after_commit(inapp.create_notifications, drafts=[draft(notification_type="sla_warning")])
    waiting = [*scheduled, digest_one.email_delivery]
    long_ago = timezone.now() - timedelta(seconds=conf.email_stalled_after_seconds() + 1)
    EmailDelivery.objects.update(updated_at=long_ago)

    assert email_delivery.requeue_stalled_deliveries() == 0
    assert email_delivery.deliver_emails(delivery_ids=[d.id for d in waiting]) is None
    assert set(EmailDelivery.objects.values_list("status", flat=True)) == {"pending"}
    assert mail.outbox == []


def test_an_immediate_email_in_quiet_hours_is_released_at_their_end(after_commit, settings):
    now = timezone.now()
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    preferences.update_preferences(user_id=1, quiet_hours_start=start, quiet_hours_end=end)
    [notification] = after_commit(inapp.create_notifications, drafts=[draft()])
    delivery = notification.email_delivery
    assert after_commit.queued == [] and delivery.not_before > now + timedelta(minutes=58)
    assert after_commit(email_delivery.release_due_deliveries, now=delivery.not_before - timedelta(seconds=1)) == 0
    assert after_commit(email_delivery.release_due_deliveries, now=delivery.not_before) == 1
    assert after_commit.queued == [delivery.id]


# --- Daily digests ----------------------------------------------------------------------------------------------
@pytest.fixture
def digest_user(delivery_for, auth_stub, after_commit):
    """User 1 in Tokyo (UTC+9) with comment_added in a 09:00 digest; ``store(*subjects)`` stores comments."""
    auth_stub.add_user(1, "one@example.com")
    preferences.update_preferences(
        user_id=1, email_modes={"comment_added": "digest"}, time_zone="Asia/Tokyo", digest_hour=9
    )

    def store(*subjects: str) -> list[InAppNotification]:
        return after_commit(
            inapp.create_notifications,
            drafts=[draft(notification_type="comment_added", subject=s, message=f"About {s}") for s in subjects],
        )

    return store


def test_digest_lists_the_unread_notifications_once_at_the_users_hour(digest_user):
    first, read, second = digest_user("first", "read", "second")
    inapp.mark_read(notification=read)
    assert email_delivery.send_due_digests(now=at("2026-04-01 08:59", "Asia/Tokyo")) == 0
    assert not Digest.objects.exists()

    assert email_delivery.send_due_digests(now=at("2026-04-01 09:05", "Asia/Tokyo")) == 1
    [email] = mail.outbox
    assert email.to == ["one@example.com"] and email.subject == "TTS digest for 2026-04-01: 2 unread notifications"
    assert "* first\n  About first" in email.body and "* second" in email.body and "read" not in email.body
    digest = Digest.objects.get()
    assert (digest.user_id, digest.local_date, digest.status, digest.to_email) == (
        1, datetime(2026, 4, 1).date(), "sent", "one@example.com",
    )  # fmt: skip
    statuses = dict(EmailDelivery.objects.values_list("notification__subject", "status"))
    assert statuses == {"first": "sent", "second": "sent", "read": "skipped"}

    # Later the same day: a new notification waits for the next day's digest, which lists only it.
    digest_user("later")
    assert email_delivery.send_due_digests(now=at("2026-04-01 09:40", "Asia/Tokyo")) == 0
    assert email_delivery.send_due_digests(now=at("2026-04-02 09:01", "Asia/Tokyo")) == 1
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.endswith(": 1 unread notification")
    assert "* later" in mail.outbox[1].body and "first" not in mail.outbox[1].body


def test_a_digest_whose_notifications_were_all_read_sends_nothing(digest_user):
    [only] = digest_user("only")
    inapp.mark_read(notification=only)
    assert email_delivery.send_due_digests(now=at("2026-04-01 09:05", "Asia/Tokyo")) == 1
    assert Digest.objects.get().status == "empty"
    assert mail.outbox == []
    assert email_delivery.send_due_digests(now=at("2026-04-01 09:06", "Asia/Tokyo")) == 0


def test_a_digest_that_could_not_be_sent_is_retried_by_the_next_tick(digest_user, settings):
    digest_user("first")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    assert email_delivery.send_due_digests(now=at("2026-04-01 09:05", "Asia/Tokyo")) == 1
    digest = Digest.objects.get()
    assert (digest.status, digest.attempts) == ("pending", 1) and "ConnectionRefusedError" in digest.last_error
    digest_user("second")  # arrives before the retry: the same digest lists it

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert email_delivery.send_due_digests(now=at("2026-04-01 09:06", "Asia/Tokyo")) == 1
    digest.refresh_from_db()
    assert (digest.status, digest.attempts) == ("sent", 2)
    [email] = mail.outbox
    assert "* first" in email.body and "* second" in email.body
    assert set(EmailDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_digest_gives_up_after_the_last_attempt(digest_user, settings):
    digest_user("first")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    for minute in range(conf.EMAIL_MAX_ATTEMPTS):
        email_delivery.send_due_digests(now=at(f"2026-04-01 09:{10 + minute}", "Asia/Tokyo"))
    digest = Digest.objects.get()
    assert (digest.status, digest.attempts) == ("failed", conf.EMAIL_MAX_ATTEMPTS)
    delivery = EmailDelivery.objects.get()
    assert delivery.status == "failed" and "ConnectionRefusedError" in delivery.last_error
    # An admin's retry puts it back in line for the next digest.
    email_delivery.retry_delivery(delivery=delivery)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.digest_id) == ("pending", None)


@pytest.mark.django_db(transaction=True)
def test_racing_ticks_send_one_digest(digest_user):
    digest_user("first", "second")
    now = at("2026-04-01 09:05", "Asia/Tokyo")
    claimed = run_concurrently(lambda: email_delivery.send_due_digests(now=now), 4)
    assert sorted(claimed) == [0, 0, 0, 1]
    assert len(mail.outbox) == 1 and Digest.objects.count() == 1
