"""Intake keeps its own worker processes in the all-in-one layout (`manage.py worker`, what `runall` starts): with
SMTP and the auth service hanging, email work piles up in its own worker and tickets still become tasks."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from notification_service.models import EmailDelivery
from tests.conftest import REPO_ROOT, _process_env, wait_for
from tests.stubs import HangingServer
from tests.workflow_api.factories import deployed_workflow, role_with_users
from tests.workflow_api.publishing import hdts  # noqa: F401 (fixture)
from tts_common.management.commands.worker import worker_groups
from workflow_api.models import Task

pytestmark = pytest.mark.django_db(transaction=True)
TICKETS = 1000


@pytest.fixture
def hanging() -> Iterator[tuple[HangingServer, HangingServer]]:
    smtp, auth = HangingServer(), HangingServer()
    yield smtp, auth
    smtp.close()
    auth.close()


def test_tickets_become_tasks_while_smtp_and_the_auth_service_hang(broker, hdts, hanging, tmp_path) -> None:  # noqa: F811
    smtp, auth = hanging
    coordinators, _ = role_with_users(2)
    agents, _ = role_with_users(3)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    env = _process_env({
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port), "EMAIL_TIMEOUT": "120", "AUTH_SERVICE_URL": f"http://127.0.0.1:{auth.port}",
        "CELERY_PREFETCH_MULTIPLIER": "256",
    })  # fmt: skip
    log = tmp_path / "workers.log"
    with open(log, "w") as out:
        workers = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "-c", "2"],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(lambda: log.read_text().count(" ready.") == len(worker_groups()), timeout=90, message="workers")
            hdts(
                {"ticket_data": {"ticket_id": f"ISO-{i}", "title": f"Ticket {i}", "category": "IT Support",
                                 "sub_category": "Network", "priority": "high"}}
                for i in range(TICKETS)
            )  # fmt: skip
            wait_for(lambda: Task.objects.count() == TICKETS, timeout=120, message=f"{TICKETS} tasks")
            # The outside systems really were hanging the email work meanwhile: asked, nothing sent.
            wait_for(lambda: auth.accepted > 0, timeout=60, message="an auth lookup for an email")
            assert EmailDelivery.objects.count() > 0
            assert not EmailDelivery.objects.filter(status=EmailDelivery.Status.SENT).exists()
            assert workers.poll() is None, log.read_text()[-3000:]
        finally:
            workers.terminate()
            workers.wait(60)
