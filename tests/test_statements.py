"""Reads compiled once (tts_common.base.statements): the SQL is the queryset's, each slot bound per execution."""
from __future__ import annotations

import pytest
from django.db.models import F, Value

from tts_common.base.statements import CompiledRead, Slot, Statement
from tts_common.models import AccountState

pytestmark = pytest.mark.django_db


def states() -> CompiledRead:
    rows = AccountState.objects.filter(user_id__gte=Slot("from_user"), is_active=Slot("active"), user_id__lt=100)
    return CompiledRead.of_rows(rows.annotate(twice=F("user_id") * 2, label=Value("50% 'done'")).order_by("user_id"))


def test_a_compiled_read_binds_its_slots_by_name_at_each_execution():
    for user_id, active in [(1, True), (2, False), (3, True), (100, True)]:
        AccountState.objects.create(user_id=user_id, is_active=active)
    read = states()
    assert [(r.user_id, r.twice) for r in read.records(from_user=1, active=True)] == [(1, 2), (3, 6)]
    assert [r.user_id for r in read.records(from_user=2, active=False)] == [2]
    assert read.records(from_user=4, active=True) == []
    assert read.sql == states().sql  # the same queryset compiles to the same statement


def test_only_the_slots_are_parameters_every_constant_is_written_in():
    read = states()
    assert sorted(read.slots) == ["active", "from_user"] and read.sql.count("%s") == 2
    assert "< 100" in read.sql  # the planner sees it: the statement's one plan is made knowing it
    AccountState.objects.create(user_id=7, is_active=True)
    assert [r.label for r in read.records(from_user=0, active=True)] == ["50% 'done'"]  # quoted, its % kept


def test_a_slot_given_no_value_is_named():
    with pytest.raises(KeyError, match="active"):
        states().bind({"from_user": 1})


def test_only_plain_reads_of_one_model_compile():
    with pytest.raises(ValueError, match="a compiled read"):
        CompiledRead.of_rows(AccountState.objects.values("user_id"))
    assert Statement.of(AccountState.objects.values("user_id")).slots == ()
