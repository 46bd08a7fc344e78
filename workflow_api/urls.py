from django.urls import path

from workflow_api import views

urlpatterns = [
    path("workflows/", views.WorkflowListCreateApi.as_view(), name="workflow-list"),
    path("workflows/<int:workflow_id>/", views.WorkflowDetailApi.as_view(), name="workflow-detail"),
    path("workflows/<int:workflow_id>/deploy/", views.WorkflowDeployApi.as_view(), name="workflow-deploy"),
    path("workflows/<int:workflow_id>/archive/", views.WorkflowArchiveApi.as_view(), name="workflow-archive"),
    path("workflows/<int:workflow_id>/new-version/", views.WorkflowNewVersionApi.as_view(), name="workflow-new-version"),
    path("calendars/", views.CalendarListCreateApi.as_view(), name="calendar-list"),
    path("calendars/<int:calendar_id>/", views.CalendarDetailApi.as_view(), name="calendar-detail"),
    path("tasks/", views.TaskListCreateApi.as_view(), name="task-list"),
    path("tasks/bulk-actions/", views.TaskBulkActionApi.as_view(), name="task-bulk-actions"),
    path("tasks/views/", views.SavedViewListCreateApi.as_view(), name="saved-view-list"),
    path("tasks/views/<int:view_id>/", views.SavedViewDetailApi.as_view(), name="saved-view-detail"),
    path("tasks/<uuid:task_id>/", views.TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<uuid:task_id>/actions/", views.TaskActionApi.as_view(), name="task-actions"),
    path("agents/", views.AgentListApi.as_view(), name="agent-list"),
    path("agents/me/availability/", views.MyAvailabilityApi.as_view(), name="my-availability"),
    path("agents/<int:user_id>/availability/", views.AgentAvailabilityApi.as_view(), name="agent-availability"),
    path("roles/<int:role_id>/settings/", views.RoleSettingsApi.as_view(), name="role-settings"),
    path("roles/<int:role_id>/fairness/", views.RoleFairnessApi.as_view(), name="role-fairness"),
    path("audit/", views.AuditEventListApi.as_view(), name="audit-list"),
    path("audit/actions/", views.AuditActionListApi.as_view(), name="audit-actions"),
    path("dead-letters/", views.DeadLetterListApi.as_view(), name="dead-letter-list"),
    path("dead-letters/<int:dead_letter_id>/", views.DeadLetterDetailApi.as_view(), name="dead-letter-detail"),
    path(
        "dead-letters/<int:dead_letter_id>/reprocess/",
        views.DeadLetterReprocessApi.as_view(),
        name="dead-letter-reprocess",
    ),
    path("dead-letters/<int:dead_letter_id>/discard/", views.DeadLetterDiscardApi.as_view(), name="dead-letter-discard"),
    path("integration-errors/", views.IntegrationErrorListApi.as_view(), name="integration-error-list"),
    path("integration-errors/<int:error_id>/", views.IntegrationErrorDetailApi.as_view(), name="integration-error-detail"),
    path("integrations/health/", views.IntegrationHealthApi.as_view(), name="integration-health"),
    path("unrouted-tickets/", views.UnroutedTicketListApi.as_view(), name="unrouted-ticket-list"),
    path("simulate/", views.SimulateApi.as_view(), name="simulate"),
]
