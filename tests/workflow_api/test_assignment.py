"""Round-robin picks: order, wrap-around, eligibility, and fairness under concurrent transactions."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from tests.workflow_api.factories import RoleFactory, UserFactory, UserRoleFactory, role_with_users
from workflow_api.models import RoundRobinCursor
from workflow_api.services.assignment import pick_assignees, pick_for_roles


@pytest.mark.django_db
def test_picks_go_round_in_user_id_order_and_persist():
    role, users = role_with_users(3)
    ids = sorted(u.user_id for u in users)
    assert pick_assignees(role, 2) == ids[:2]
    assert pick_assignees(role, 4) == [ids[2], ids[0], ids[1], ids[2]]
    assert RoundRobinCursor.objects.get(role=role).last_user_id == ids[2]


@pytest.mark.django_db
def test_only_active_users_of_an_active_role_are_picked():
    role, users = role_with_users(3)
    users[1].is_active = False
    users[1].save()
    assert set(pick_assignees(role, 4)) == {users[0].user_id, users[2].user_id}
    role.is_active = False
    role.save()
    assert pick_assignees(role, 2) == [None, None]
    assert pick_assignees(RoleFactory(), 1) == [None]


@pytest.mark.django_db
def test_pointer_survives_its_user_leaving_the_role():
    role, users = role_with_users(3)
    ids = sorted(u.user_id for u in users)
    assert pick_assignees(role, 2) == ids[:2]
    role.members.filter(user_id=ids[1]).delete()
    newcomer = UserFactory()
    UserRoleFactory(user=newcomer, role=role)
    assert pick_assignees(role, 3) == [ids[2], newcomer.user_id, ids[0]]


@pytest.mark.django_db
def test_several_roles_are_picked_in_one_go():
    first, a = role_with_users(2)
    second, b = role_with_users(1)
    picks = pick_for_roles({second.pk: 2, first.pk: 3})
    assert Counter(picks[first.pk]) == {a[0].user_id: 2, a[1].user_id: 1}
    assert picks[second.pk] == [b[0].user_id] * 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_transactions_share_the_pointer_fairly():
    role, users = role_with_users(5)
    picked: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(10):
                with transaction.atomic():
                    chosen = pick_assignees(role, 3)
                with lock:
                    picked.extend(chosen)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(picked)
    assert len(picked) == 180 and set(counts) == {u.user_id for u in users}
    assert set(counts.values()) == {36}  # 180 picks over 5 users: exactly even, nobody skipped
