"""Request and response bodies of the auth API. Input serializers only parse; the services hold the rules."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tts_common.base.permissions import PERMISSIONS

from .models import AuditEvent, Role, System, User, UserSystemRole


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would silently turn a JSON number into text, hiding client bugs."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(StrictCharField, serializers.EmailField):
    pass


class InputSerializer(serializers.Serializer):
    """Rejects unknown fields, so a misspelt or forbidden field is an error instead of being silently ignored."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        unknown = set(data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({field: ["Unknown field."] for field in sorted(unknown)})
        return value


# --- Tokens ---------------------------------------------------------------------------------------------------
class TokenObtainInputSerializer(InputSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class TokenRefreshInputSerializer(InputSerializer):
    refresh_token = StrictCharField(required=False)
    refresh = StrictCharField(required=False, help_text="Alias of refresh_token (simplejwt's name).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        token = attrs.get("refresh_token") or attrs.get("refresh")
        if not token:
            raise serializers.ValidationError({"refresh_token": ["This field is required."]})
        return {"refresh_token": token}


class TokenPairOutputSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


# --- Users and their roles ------------------------------------------------------------------------------------
class AssignmentOutputSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="role.system.code")
    role_name = serializers.CharField(source="role.name")
    role_is_active = serializers.BooleanField(source="role.is_active")

    class Meta:
        model = UserSystemRole
        fields = ["role_id", "system", "role_name", "role_is_active", "assigned_at"]


class UserOutputSerializer(serializers.ModelSerializer):
    roles = AssignmentOutputSerializer(source="system_roles", many=True, read_only=True)

    class Meta:
        model = User
        fields = [
            "id", "username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser",
            "date_joined", "last_login", "roles",
        ]  # fmt: skip


class UserCreateInputSerializer(InputSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=4096, trim_whitespace=False)
    email = StrictEmailField(required=False, allow_blank=True, default="")
    first_name = StrictCharField(required=False, allow_blank=True, max_length=150, default="")
    last_name = StrictCharField(required=False, allow_blank=True, max_length=150, default="")
    is_active = serializers.BooleanField(required=False, default=True)


class UserUpdateInputSerializer(InputSerializer):
    email = StrictEmailField(required=False, allow_blank=True, help_text="Administrators only.")
    first_name = StrictCharField(required=False, allow_blank=True, max_length=150)
    last_name = StrictCharField(required=False, allow_blank=True, max_length=150)
    is_active = serializers.BooleanField(required=False, help_text="Administrators only.")
    password = StrictCharField(required=False, max_length=4096, trim_whitespace=False)
    current_password = StrictCharField(
        required=False, trim_whitespace=False, help_text="Required when changing your own password."
    )


class UserRoleAssignInputSerializer(InputSerializer):
    role_id = serializers.PrimaryKeyRelatedField(queryset=Role.objects.select_related("system"))


class UserRolesReplaceInputSerializer(InputSerializer):
    role_ids = serializers.PrimaryKeyRelatedField(
        queryset=Role.objects.select_related("system"), many=True, allow_empty=True
    )


# --- Roles and systems ----------------------------------------------------------------------------------------
class RoleOutputSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.code")

    class Meta:
        model = Role
        fields = ["id", "system", "name", "permissions", "is_active", "version", "created_at", "updated_at"]


def _permission_list(note: str = "") -> serializers.ListField:
    # Any string passes here; the role's own validation names the unknown ones (the same rule for Django admin).
    return serializers.ListField(
        child=StrictCharField(max_length=100),
        required=False,
        max_length=len(PERMISSIONS) * 2,
        help_text=f"Permission names, any of: {', '.join(PERMISSIONS)}.{note}",
    )


class RoleCreateInputSerializer(InputSerializer):
    system = serializers.SlugRelatedField(slug_field="code", queryset=System.objects.all(), help_text="System code.")
    name = StrictCharField(max_length=100)
    permissions = _permission_list(" Left out: the agents' defaults (task.act, task.transfer, task.escalate).")
    is_active = serializers.BooleanField(required=False, default=True)


class RoleUpdateInputSerializer(InputSerializer):
    name = StrictCharField(required=False, max_length=100)
    permissions = _permission_list()
    is_active = serializers.BooleanField(required=False)


class PermissionOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class AuditEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "event_type", "actor_id", "actor_username", "target_user_id", "target_username",
            "role_id", "role_name", "source_address", "details",
        ]  # fmt: skip


class SystemOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = System
        fields = ["id", "code", "name"]


class AuditEventTypesOutputSerializer(serializers.Serializer):
    event_types = serializers.ListField(child=serializers.CharField())
