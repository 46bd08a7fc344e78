"""End to end on the real stack: outside producers → RabbitMQ → a real worker process → PostgreSQL and real SMTP."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from django.utils import timezone
from rest_framework.test import APIClient

from notification_service import conf
from notification_service.models import Digest, EmailDelivery, InAppNotification, RejectedMessage
from notification_service.services import email_delivery, preferences
from tests.conftest import outside_celery_app, wait_for
from tests.workflow_api.scheduling import celery_beat  # noqa: F401 (fixture)
from tts_common import contracts

from .conftest import make_token

INAPP = {
    "user_id": 11,
    "subject": "Escalated: printer on fire",
    "message": "Task T-7 was escalated to you.",
    "notification_type": "task_escalation",
    "related_task_id": "T-7",
    "related_ticket_id": "TX-7",
    "metadata": {"from_user": 3},
}


@pytest.fixture
def outside_app() -> Iterator[Celery]:
    """A producer as outside clients write one: a stock Celery app with default settings."""
    yield outside_celery_app("outside")


def publish(app: Celery, route: contracts.Route, **kwargs: Any) -> None:
    app.send_task(route.task, kwargs=kwargs, queue=route.queue)


def test_outside_messages_are_stored_once_and_emailed_once(
    notification_worker, outside_app, auth_stub, smtp_server
):
    auth_stub.add_user(11, "agent11@example.com")
    smtp_server.start()
    # Published before the worker has started (and declared anything): the messages wait in the queue.
    for _ in range(3):
        publish(outside_app, contracts.INAPP_NOTIFICATION, **INAPP)
    publish(
        outside_app,
        contracts.ASSIGNMENT_NOTIFICATION,
        user_id=11, task_id="T-8", task_title="Replace switch", role_name="Network Engineer", ticket_id="TX-8",
    )  # fmt: skip
    worker = notification_worker()

    wait_for(lambda: len(smtp_server.messages) >= 2, timeout=30, message="two emails")
    wait_for(lambda: EmailDelivery.objects.filter(status="sent").count() == 2, timeout=10, message="deliveries sent")
    escalation = InAppNotification.objects.get(notification_type="task_escalation")
    assert (escalation.user_id, escalation.subject, escalation.related_ticket_id) == (11, INAPP["subject"], "TX-7")
    assignment = InAppNotification.objects.get(notification_type="task_assignment")
    assert (assignment.related_task_id, assignment.related_ticket_id) == ("T-8", "TX-8")
    assert assignment.metadata["role_name"] == "Network Engineer"
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == [INAPP["subject"], "New task assigned: Replace switch"]
    assert {m["To"] for m in smtp_server.messages} == {"agent11@example.com"}

    # Redelivered again later (a retrying producer): still one notification and one email. A marker published
    # after it is stored once the duplicate has been consumed.
    publish(outside_app, contracts.INAPP_NOTIFICATION, **INAPP)
    publish(outside_app, contracts.INAPP_NOTIFICATION, **{**INAPP, "notification_type": "comment_added"})
    wait_for(lambda: InAppNotification.objects.filter(notification_type="comment_added").exists(), timeout=30)
    assert InAppNotification.objects.filter(notification_type="task_escalation").count() == 1
    assert EmailDelivery.objects.count() == 2
    assert len(smtp_server.messages) == 2
    assert "message gave up" not in worker.log()


def test_smtp_outage_keeps_the_notification_retries_then_records_the_failure(
    notification_worker, outside_app, auth_stub, smtp_server
):
    auth_stub.add_user(11, "agent11@example.com")
    worker = notification_worker()  # smtp_server is not started: its port refuses connections
    publish(outside_app, contracts.INAPP_NOTIFICATION, **INAPP)

    notification = wait_for(lambda: InAppNotification.objects.filter(user_id=11).first(), timeout=30)
    assert notification.subject == INAPP["subject"]
    delivery = wait_for(
        lambda: EmailDelivery.objects.filter(status="failed").first(), timeout=30, message="delivery failed"
    )
    assert delivery.attempts == conf.EMAIL_MAX_ATTEMPTS
    assert "ConnectionRefusedError" in delivery.last_error
    assert delivery.to_email == "agent11@example.com"
    assert worker.log().count("notifications.send_email") >= conf.EMAIL_MAX_ATTEMPTS

    # An admin sees the failure and retries it once SMTP is back.
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(1, is_admin=True)}")
    failed = admin.get("/api/v2/notifications/deliveries/?status=failed").json()
    assert [d["id"] for d in failed["results"]] == [delivery.id]
    smtp_server.start()
    assert admin.post(f"/api/v2/notifications/deliveries/{delivery.id}/retry/").status_code == 202
    wait_for(lambda: len(smtp_server.messages) == 1, timeout=30, message="email after retry")
    wait_for(lambda: EmailDelivery.objects.get(id=delivery.id).status == "sent", timeout=10)


def test_invalid_messages_are_recorded_and_the_worker_keeps_going(notification_worker, outside_app):
    worker = notification_worker()
    missing_user = {k: v for k, v in INAPP.items() if k != "user_id"}
    publish(outside_app, contracts.INAPP_NOTIFICATION, **missing_user)
    publish(outside_app, contracts.INAPP_NOTIFICATION, **{**INAPP, "notification_type": "party_invite"})
    publish(outside_app, contracts.ASSIGNMENT_NOTIFICATION, user_id=11, task_id="T-1")
    publish(outside_app, contracts.INAPP_NOTIFICATION, **{**INAPP, "notification_type": "comment_added"})

    wait_for(lambda: InAppNotification.objects.filter(notification_type="comment_added").exists(), timeout=30)
    wait_for(lambda: RejectedMessage.objects.count() == 3, timeout=10, message="3 rejected messages")
    reasons = sorted(RejectedMessage.objects.values_list("reason", flat=True))
    assert any(r.startswith("user_id") for r in reasons)
    assert any(r.startswith("notification_type") for r in reasons)
    assert any(r.startswith("task_title") for r in reasons)
    assert InAppNotification.objects.count() == 1
    assert worker.process.poll() is None


def test_deliveries_whose_message_was_lost_are_queued_again_by_the_sweep(notification_worker, auth_stub, smtp_server):
    """A delivery whose message could not be published (e.g. through a broker outage) waits with nothing on its way,
    and so does one claimed by a worker that died and whose message was lost: the scheduled sweep queues both again
    for the email workers. A delivery that was just stored (its message on its way) is left alone."""
    auth_stub.add_user(11, "agent11@example.com")
    smtp_server.start()
    now = timezone.now()
    stalled = _delivery("stalled", updated_at=now - timedelta(seconds=conf.email_stalled_after_seconds() + 1))
    orphaned = _delivery(
        "orphaned", status="sending", attempts=1, claimed_at=now - timedelta(seconds=conf.EMAIL_CLAIM_LEASE_SECONDS + 1)
    )
    fresh = _delivery("fresh")
    notification_worker(queues=(contracts.NOTIFICATION_EMAIL.queue,))

    assert email_delivery.requeue_stalled_deliveries() == 2
    wait_for(lambda: len(smtp_server.messages) == 2, timeout=30, message="two emails")
    assert sorted(m["Subject"] for m in smtp_server.messages) == ["orphaned", "stalled"]
    wait_for(lambda: EmailDelivery.objects.filter(status="sent").count() == 2, timeout=10, message="both sent")
    assert EmailDelivery.objects.get(id=fresh.id).status == "pending"
    assert email_delivery.requeue_stalled_deliveries() == 0  # nothing stalled any more
    assert {stalled.id, orphaned.id} == set(EmailDelivery.objects.filter(status="sent").values_list("id", flat=True))


def _delivery(subject: str, **fields: Any) -> EmailDelivery:
    """A stored notification's delivery, with no message published for it."""
    notification = InAppNotification.objects.create(
        user_id=11, notification_type="task_assignment", subject=subject, dedup_key=subject
    )
    delivery = EmailDelivery.objects.create(notification=notification, user_id=11)
    EmailDelivery.objects.filter(id=delivery.id).update(**fields)  # updated_at as given, not auto_now
    return delivery


def test_an_unread_notice_is_emailed_after_the_delay_and_a_read_one_is_not(
    notification_worker, outside_app, auth_stub, smtp_server, monkeypatch
):
    """"Email me if still unread after 1 minute", with the minute shortened to 2 s in the worker."""
    auth_stub.add_user(11, "agent11@example.com")
    smtp_server.start()
    preferences.update_preferences(user_id=11, email_modes={"task_escalation": "if_unread"}, unread_delay_minutes=1)
    monkeypatch.setenv("NOTIFICATION_MINUTE_SECONDS", "2")
    notification_worker()
    publish(outside_app, contracts.INAPP_NOTIFICATION, **{**INAPP, "subject": "left unread"})
    publish(outside_app, contracts.INAPP_NOTIFICATION, **{**INAPP, "subject": "read in time"})
    wait_for(lambda: EmailDelivery.objects.count() == 2, timeout=30, message="two scheduled deliveries")
    read = InAppNotification.objects.get(subject="read in time")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(11)}")
    assert client.post(f"/api/v2/notifications/inapp/{read.id}/read/").status_code == 200
    # Neither was queued on arrival: both wait for the due job.
    assert EmailDelivery.objects.filter(status="pending", not_before__isnull=False).count() == 2
    assert smtp_server.messages == []
    due = max(EmailDelivery.objects.values_list("not_before", flat=True))
    wait_for(lambda: timezone.now() > due, timeout=10, message="the delay")

    publish(outside_app, contracts.EMAIL_DUE)  # as celery beat does
    wait_for(lambda: len(smtp_server.messages) == 1, timeout=30, message="one email")
    [email] = smtp_server.messages
    unread = InAppNotification.objects.get(subject="left unread")
    assert (email["Subject"], email["X-TTS-Notification-Id"]) == ("left unread", str(unread.id))
    wait_for(lambda: EmailDelivery.objects.get(notification=unread).status == "sent", timeout=10)
    skipped = EmailDelivery.objects.get(notification=read)
    assert (skipped.status, skipped.last_error) == ("skipped", "read before the email was due")


def test_beat_runs_the_due_job_on_the_email_workers(
    notification_worker, outside_app, auth_stub, smtp_server, monkeypatch, celery_beat  # noqa: F811
):
    auth_stub.add_user(11, "agent11@example.com")
    smtp_server.start()
    preferences.update_preferences(user_id=11, email_modes={"task_escalation": "if_unread"}, unread_delay_minutes=1)
    monkeypatch.setenv("NOTIFICATION_MINUTE_SECONDS", "0.5")
    monkeypatch.setenv("EMAIL_DUE_INTERVAL_SECONDS", "0.5")
    notification_worker()
    celery_beat()
    publish(outside_app, contracts.INAPP_NOTIFICATION, **INAPP)
    wait_for(lambda: len(smtp_server.messages) == 1, timeout=40, message="the email, released by a beat tick")
    # The SMTP server holds the message a moment before the worker records it as sent.
    wait_for(lambda: EmailDelivery.objects.get().status == "sent", timeout=10)
    delivery = EmailDelivery.objects.get()
    assert delivery.mode == "if_unread" and delivery.sent_at >= delivery.created_at + timedelta(seconds=0.5)


def test_a_digest_is_sent_once_while_ticks_race_on_two_workers(
    notification_worker, outside_app, auth_stub, smtp_server, settings
):
    auth_stub.add_user(11, "agent11@example.com")
    smtp_server.start()
    # This process ticks too, with the workers' SMTP server and auth service.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.AUTH_SERVICE_URL = "127.0.0.1", smtp_server.port, auth_stub.url
    now = timezone.now()
    if now.minute == 59:  # the digest hour must not turn during the test
        time.sleep(61 - now.second)
    preferences.update_preferences(
        user_id=11, email_modes={"comment_added": "digest"}, time_zone="UTC", digest_hour=timezone.now().hour
    )
    workers = [notification_worker(), notification_worker(queues=(contracts.NOTIFICATION_EMAIL.queue,))]
    for subject in ("first comment", "second comment"):
        publish(outside_app, contracts.INAPP_NOTIFICATION, **{**INAPP, "notification_type": "comment_added", "subject": subject})
    wait_for(lambda: EmailDelivery.objects.filter(mode="digest").count() == 2, timeout=30, message="digest deliveries")

    for _ in range(4):
        publish(outside_app, contracts.EMAIL_DIGESTS)  # overlapping beat ticks
    email_delivery.send_due_digests()  # and one more in this process
    done = f"{contracts.EMAIL_DIGESTS.task}["
    wait_for(
        lambda: sum(line.count(done) and "succeeded" in line for w in workers for line in w.log().splitlines()) == 4,
        timeout=30, message="four ticks done",
    )  # fmt: skip
    wait_for(lambda: len(smtp_server.messages) >= 1, timeout=10, message="the digest")
    [email] = smtp_server.messages
    assert email["Subject"].endswith(": 2 unread notifications") and email["To"] == "agent11@example.com"
    body = email.get_payload(decode=True).decode()
    assert "* first comment" in body and "* second comment" in body
    digest = Digest.objects.get()
    assert (digest.status, digest.attempts) == ("sent", 1)
    assert set(EmailDelivery.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.parametrize(
    "route, interval",
    [
        (contracts.EMAIL_SWEEP, "EMAIL_SWEEP_INTERVAL_SECONDS"),
        (contracts.EMAIL_DUE, "EMAIL_DUE_INTERVAL_SECONDS"),
        (contracts.EMAIL_DIGESTS, "EMAIL_DIGEST_INTERVAL_SECONDS"),
    ],
)
def test_the_scheduled_jobs_run_on_the_email_workers(settings, route, interval):
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == route.task]
    assert entry["schedule"] == getattr(settings, interval)
    assert settings.CELERY_TASK_ROUTES[route.task]["queue"] == route.queue
    assert route.queue in contracts.SERVICE_QUEUES["notification_email"]
