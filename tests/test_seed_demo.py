"""``manage.py seed_demo`` writes the demo (a superuser with a published password among it) only into a database
that is empty or that a generator wrote: it records a dataset marker, and refuses, writing nothing, a database holding
users or tasks without one."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from auth_service.models import User
from auth_service.services import DEMO_LOGINS
from tests.conftest import REPO_ROOT, _process_env
from tests.workflow_api.factories import TaskFactory
from tts_common.models import DatasetMarker
from workflow_api.models import Task, Workflow


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # The seed hashes 14 passwords: at production strength that is ~1 s each here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_seeding_a_database_with_real_users_fails_and_writes_nothing() -> None:
    """As an operator would run it (`./scripts/run --real --demo` on a production database): non-zero, says why."""
    User.objects.create_user(username="alice", email="alice@example.com", password="a-real-password-1")
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=REPO_ROOT, env=_process_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "has no dataset marker but holds data (users: 1, tasks: 0)" in result.stderr, result.stderr
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    assert not DatasetMarker.objects.exists() and not Workflow.objects.exists()


@pytest.mark.django_db
def test_seeding_a_database_with_tasks_and_no_marker_is_refused() -> None:
    TaskFactory()
    with pytest.raises(CommandError, match=r"no dataset marker but holds data \(users: 0, tasks: 1\)"):
        seed()
    assert not User.objects.exists() and not DatasetMarker.objects.exists()
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_seeding_an_empty_database_marks_it_and_is_idempotent() -> None:
    assert "Demo data ready" in seed()
    assert list(DatasetMarker.objects.values_list("generator", flat=True)) == ["demo"]
    users = set(User.objects.values_list("username", flat=True))
    assert users == {login.username for login in DEMO_LOGINS}
    workflows = Workflow.objects.count()
    assert workflows == 2

    assert "Demo data ready" in seed()  # marked: its own users are no reason to refuse
    assert DatasetMarker.objects.count() == 1 and Workflow.objects.count() == workflows
    assert set(User.objects.values_list("username", flat=True)) == users


@pytest.mark.django_db
def test_a_database_another_generator_wrote_takes_the_demo_too() -> None:
    DatasetMarker.objects.create(generator="generated history")
    User.objects.create_user(username="generated1", email="generated1@example.com", password="generated-pass-1")
    seed()
    assert set(DatasetMarker.objects.values_list("generator", flat=True)) == {"generated history", "demo"}
    assert User.objects.filter(username="admin", is_superuser=True).exists()
