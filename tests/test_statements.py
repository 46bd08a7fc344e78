"""Reads compiled once (tts_common.base.statements): the SQL is the queryset's, each slot bound per execution."""
from __future__ import annotations

import pytest
from django.db.models import F

from tts_common.base.statements import AnyOf, CompiledRead, Slot, Statement
from tts_common.models import AccountState

pytestmark = pytest.mark.django_db


def states() -> CompiledRead:
    rows = AccountState.objects.filter(AnyOf(F("user_id"), Slot("users")), is_active=Slot("active"))
    return CompiledRead.of_rows(rows.annotate(twice=F("user_id") * 2).order_by("user_id"))


def test_a_compiled_read_binds_its_slots_by_name_at_each_execution():
    for user_id, active in [(1, True), (2, False), (3, True)]:
        AccountState.objects.create(user_id=user_id, is_active=active)
    read = states()
    assert [(r.user_id, r.twice) for r in read.records(users=[1, 2, 3], active=True)] == [(1, 2), (3, 6)]
    assert [r.user_id for r in read.records(users=[2, 3], active=False)] == [2]
    assert read.records(users=[], active=True) == []
    assert read.sql == states().sql  # the same queryset compiles to the same statement


def test_a_slot_given_no_value_is_named():
    with pytest.raises(KeyError, match="active"):
        states().bind({"users": [1]})


def test_only_plain_reads_of_one_model_compile():
    with pytest.raises(ValueError, match="a compiled read"):
        CompiledRead.of_rows(AccountState.objects.values("user_id"))
    assert Statement.of(AccountState.objects.values("user_id")).params == ()
