"""Query-string filters of the ticket list."""
from __future__ import annotations

import django_filters

from tts_common.base import hdts

from .models import HdtsTicket


class TicketFilter(django_filters.FilterSet):
    status = django_filters.CharFilter()
    priority = django_filters.ChoiceFilter(choices=[(p, p) for p in hdts.PRIORITIES])
    category = django_filters.CharFilter()
    sub_category = django_filters.CharFilter()

    class Meta:
        model = HdtsTicket
        fields = ["status", "priority", "category", "sub_category"]
