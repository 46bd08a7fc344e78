from django.urls import path

from . import views

urlpatterns = [
    path("token/", views.TokenObtainApi.as_view(), name="auth-token"),
    path("token/refresh/", views.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("token/logout/", views.TokenLogoutApi.as_view(), name="auth-token-logout"),
    path("api/v1/users/", views.UserListApi.as_view(), name="auth-users"),
    path("api/v1/users/me/", views.UserMeApi.as_view(), name="auth-user-me"),
    path("api/v1/users/<int:user_id>/", views.UserDetailApi.as_view(), name="auth-user-detail"),
    path("api/v1/users/<int:user_id>/roles/", views.UserRolesApi.as_view(), name="auth-user-roles"),
    path(
        "api/v1/users/<int:user_id>/roles/<int:role_id>/",
        views.UserRoleDetailApi.as_view(),
        name="auth-user-role-detail",
    ),
    path("api/v1/roles/", views.RoleListApi.as_view(), name="auth-roles"),
    path("api/v1/roles/<int:role_id>/", views.RoleDetailApi.as_view(), name="auth-role-detail"),
    path("api/v1/systems/", views.SystemListApi.as_view(), name="auth-systems"),
    path("api/v1/permissions/", views.PermissionListApi.as_view(), name="auth-permissions"),
    path("api/v1/audit/", views.AuditEventListApi.as_view(), name="auth-audit"),
    path("api/v1/audit/event-types/", views.AuditEventTypeListApi.as_view(), name="auth-audit-event-types"),
]
