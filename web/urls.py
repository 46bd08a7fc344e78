"""Pages of the web UI. Every page is a public HTML shell: its data is fetched by the browser from the APIs with the
user's JWT, so nothing here reads a database or needs a session."""

from django.urls import path
from django.views.generic import RedirectView

from tts_common.base import permissions

from . import views

app_name = "web"

urlpatterns = [
    path("", RedirectView.as_view(url="/app/queue/", permanent=False), name="root"),
    path("app/", RedirectView.as_view(url="/app/queue/", permanent=False), name="app-root"),
    path("app/login/", views.page("login", "Sign in", auth=False), name="login"),
    path("app/queue/", views.page("queue", "My queue"), name="queue"),
    path("app/tasks/<uuid:task_id>/", views.page("task", "Task"), name="task"),
    path("app/notifications/", views.page("notifications", "Notifications"), name="notifications"),
    path(
        "app/notifications/preferences/",
        views.page("notification-preferences", "Email preferences"),
        name="notification-preferences",
    ),
    path("app/reports/", views.page("reports", "Reports"), name="reports"),
    path(
        "app/admin/users/", views.page("admin-users", "Users", permission=permissions.USERS_MANAGE), name="admin-users"
    ),
    path(
        "app/admin/roles/", views.page("admin-roles", "Roles", permission=permissions.USERS_MANAGE), name="admin-roles"
    ),
    path(
        "app/admin/workflows/",
        views.page("admin-workflows", "Workflows", permission=permissions.WORKFLOW_MANAGE),
        name="admin-workflows",
    ),
    path(
        "app/admin/workflows/designer/",
        views.page("admin-workflow-designer", "Workflow designer", permission=permissions.WORKFLOW_MANAGE),
        name="admin-workflow-designer",
    ),
    path(
        "app/admin/health/",
        views.page("admin-health", "Integration health", permission=permissions.ADMIN),
        name="admin-health",
    ),
    path(
        "app/admin/dead-letters/",
        views.page("admin-dead-letters", "Dead letters", permission=permissions.DEAD_LETTERS_MANAGE),
        name="admin-dead-letters",
    ),
    path(
        "app/admin/unrouted/",
        views.page("admin-unrouted", "Unrouted tickets", permission=permissions.DEAD_LETTERS_MANAGE),
        name="admin-unrouted",
    ),
    path(
        "app/admin/simulator/",
        views.page("admin-simulator", "Routing simulator", permission=permissions.WORKFLOW_MANAGE),
        name="admin-simulator",
    ),
    path(
        "app/admin/calendars/",
        views.page("admin-calendars", "Calendars", permission=permissions.CALENDAR_MANAGE),
        name="admin-calendars",
    ),
    path(
        "app/admin/availability/",
        views.page("admin-availability", "Availability", permission=permissions.USERS_MANAGE),
        name="admin-availability",
    ),
    path(
        "app/admin/audit/",
        views.page("admin-audit", "Audit log", permission=permissions.USERS_MANAGE),
        name="admin-audit",
    ),
    path(
        "app/admin/integration-errors/",
        views.page("admin-integration-errors", "Integration errors", permission=permissions.DEAD_LETTERS_MANAGE),
        name="admin-integration-errors",
    ),
]
