from __future__ import annotations

import factory

from ticket_service.hdts_simulator import make_ticket
from ticket_service.models import HdtsTicket, TicketStatusUpdate


class HdtsTicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HdtsTicket

    payload = factory.Sequence(lambda n: make_ticket(n, prefix="FACT"))
    ticket_id = factory.LazyAttribute(lambda o: o.payload["ticket_id"])
    title = factory.LazyAttribute(lambda o: o.payload["title"])
    priority = factory.LazyAttribute(lambda o: o.payload["priority"])
    category = factory.LazyAttribute(lambda o: o.payload["category"])
    sub_category = factory.LazyAttribute(lambda o: o.payload["sub_category"])
    department = factory.LazyAttribute(lambda o: o.payload.get("department", ""))


class TicketStatusUpdateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketStatusUpdate

    ticket_id = factory.Sequence(lambda n: f"FACT-{n:07d}")
    status = "in_progress"
    message_id = factory.Faker("uuid4")
