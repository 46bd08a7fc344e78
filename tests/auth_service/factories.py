"""factory_boy factories for the auth service's tables (rows only: no sync messages are published)."""
from __future__ import annotations

import factory

from auth_service.models import Role, System, User, UserSystemRole

PASSWORD = "correct-horse-battery"


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System
        django_get_or_create = ("code",)

    code = "TTS"
    name = factory.LazyAttribute(lambda system: f"{system.code} system")


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    system = factory.SubFactory(SystemFactory)
    name = factory.Sequence(lambda n: f"Role {n}")
    permissions = factory.LazyFunction(list)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.django.Password(PASSWORD)


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserSystemRole

    user = factory.SubFactory(UserFactory)
    role = factory.SubFactory(RoleFactory)
