"""Saved views: a user's named task lists (filters, search, ordering). Each user sees and changes only their own."""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from tts_common.base.errors import Invalid, NotFound
from workflow_api.models import SavedTaskView
from workflow_api.selectors.tasks import saved_view_get

_NAME_TAKEN = {"name": ["You already have a view with this name."]}


def saved_view_create(*, owner_id: int, name: str, query: dict[str, Any]) -> SavedTaskView:
    try:
        with transaction.atomic():
            return SavedTaskView.objects.create(owner_id=owner_id, name=name, query=query)
    except IntegrityError:  # the (owner, name) constraint
        raise Invalid(_NAME_TAKEN) from None


def saved_view_update(*, owner_id: int, view_id: int, data: dict[str, Any]) -> SavedTaskView:
    """Change the name and/or the query of one of the owner's views."""
    view = _own(owner_id, view_id)
    for field in ("name", "query"):
        if field in data:
            setattr(view, field, data[field])
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError:
        raise Invalid(_NAME_TAKEN) from None
    return view


def saved_view_delete(*, owner_id: int, view_id: int) -> None:
    _own(owner_id, view_id).delete()


def _own(owner_id: int, view_id: int) -> SavedTaskView:
    view = saved_view_get(owner_id=owner_id, view_id=view_id)
    if view is None:
        raise NotFound("Saved view not found.")
    return view
