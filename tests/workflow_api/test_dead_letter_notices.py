"""Dead letters tell the admins (issue 15, degraded modes): grouped notices of type ``dead_letter`` whose counts add
up to the letters stored, at most one per admin per notice interval, emailed per their preferences — on the real
stack, with several workers draining at once."""
from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from notification_service.models import EmailDelivery, InAppNotification, NotificationPreference
from tests.conftest import outside_celery_app, wait_for
from tests.workflow_api.factories import role_with_users
from tests.workflow_api.scheduling import celery_beat  # noqa: F401 (fixture)
from tts_common import contracts
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from workflow_api.models import DeadLetter, DeadLetterNotice
from workflow_api.services import dead_letters

NOTICE_INTERVAL_SECONDS = 3


def malformed(number: int) -> dict[str, object]:
    return {"ticket_id": f"BAD-{number}", "category": "IT Support", "priority": "low"}  # no title


@pytest.mark.django_db
def test_letters_wait_for_the_interval_and_each_is_counted_once(settings, django_capture_on_commit_callbacks):
    settings.DEAD_LETTER_NOTICE_INTERVAL_SECONDS = 60
    role_with_users(1, permissions=[ADMIN_PERMISSION])
    stored = [DeadLetter.objects.create(message_key=f"k{n}", received_at=timezone.now()) for n in range(3)]
    with django_capture_on_commit_callbacks() as published:
        first = dead_letters.dead_letters_notify_admins()
    assert first is not None and first.count == 3 and len(published) == 1  # one publish of the admins' notices
    DeadLetter.objects.create(message_key="k3", received_at=timezone.now())
    assert dead_letters.dead_letters_notify_admins() is None  # within the interval: it waits
    assert DeadLetter.objects.filter(notice__isnull=True).count() == 1
    DeadLetterNotice.objects.filter(pk=first.pk).update(created_at=first.created_at - timedelta(seconds=60))
    second = dead_letters.dead_letters_notify_admins()
    assert second is not None and second.count == 1
    assert dead_letters.dead_letters_notify_admins() is None  # nothing untold
    assert {letter.notice_id for letter in DeadLetter.objects.filter(pk__in=[s.pk for s in stored])} == {first.pk}


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_100_malformed_tickets_gives_each_admin_notices_summing_to_100(
    monkeypatch, broker, celery_worker, celery_beat  # noqa: F811
):
    _, admins = role_with_users(2, permissions=[ADMIN_PERMISSION])
    role_with_users(1)  # not an admin: told nothing
    NotificationPreference.objects.create(user_id=admins[1].user_id, email_modes={"dead_letter": "off"})
    monkeypatch.setenv("DEAD_LETTER_DRAIN_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("DEAD_LETTER_NOTICE_INTERVAL_SECONDS", str(NOTICE_INTERVAL_SECONDS))
    queues = (contracts.RECEIVE_TICKET.queue, contracts.DEAD_LETTER_DRAIN.queue, contracts.INAPP_NOTIFICATION.queue)
    for _ in range(2):  # two workers of two processes each: drains overlap
        celery_worker(queues=queues)
    celery_beat()

    hdts = outside_celery_app()

    def burst(numbers: range) -> None:
        for number in numbers:
            hdts.send_task(contracts.RECEIVE_TICKET.task, args=[malformed(number)], queue=contracts.RECEIVE_TICKET.queue)
        for _ in range(6):  # drains beyond beat's, racing for the same letters
            hdts.send_task(contracts.DEAD_LETTER_DRAIN.task, queue=contracts.DEAD_LETTER_DRAIN.queue)

    burst(range(50))
    wait_for(DeadLetterNotice.objects.exists, timeout=60, message="the first notice")
    burst(range(50, 100))  # while the first notice's interval runs: these wait for the next one

    def counts_by_admin() -> dict[int, list[int]]:
        counts: dict[int, list[int]] = defaultdict(list)
        for user_id, metadata in InAppNotification.objects.filter(notification_type="dead_letter").values_list(
            "user_id", "metadata"
        ):
            counts[user_id].append(metadata["count"])
        return counts

    wait_for(
        lambda: {sum(counts) for counts in counts_by_admin().values()} == {100} and len(counts_by_admin()) == 2,
        timeout=90,
        message="notices counting 100 letters for each admin",
    )
    assert DeadLetter.objects.count() == 100 and not DeadLetter.objects.filter(notice__isnull=True).exists()
    notices = list(DeadLetterNotice.objects.order_by("created_at"))
    assert len(notices) >= 2 and sum(notice.count for notice in notices) == 100
    gaps = [(later.created_at - earlier.created_at).total_seconds() for earlier, later in itertools.pairwise(notices)]
    assert min(gaps) >= NOTICE_INTERVAL_SECONDS  # at most one notice per interval
    for user_id, counts in counts_by_admin().items():
        assert sorted(counts) == sorted(notice.count for notice in notices), user_id  # each notice once per admin
    # Email per preferences: the first admin's default (immediate) plans one email per notice, the second's "off" none.
    emailed = EmailDelivery.objects.filter(notification__notification_type="dead_letter")
    assert sorted(emailed.values_list("user_id", flat=True)) == [admins[0].user_id] * len(notices)
