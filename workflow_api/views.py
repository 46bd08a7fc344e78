"""HTTP endpoints of the workflow engine (DESIGN §5). Views only parse, authorise and delegate: reads go through
the selectors, writes through the services, and every write answers with a fresh read of what it changed."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotAcceptable, NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from tts_common.base import permissions
from tts_common.http.api import CSVRenderer
from tts_common.http.auth import IsAdmin, RequirePermission
from tts_common.http.filters import FilterBackend
from tts_common.http.schema import TICKET_BODY, TICKET_OPENAPI
from workflow_api import serializers
from workflow_api.filters import (
    AgentFilter,
    AuditEventFilter,
    DeadLetterFilter,
    IntegrationErrorFilter,
    TaskFilter,
    UnroutedTicketFilter,
    WorkflowFilter,
    agent_queue_statuses,
)
from workflow_api.models import Task, Workflow
from workflow_api.selectors.assignment import (
    agent_list,
    availability_get,
    role_fairness,
    role_settings_get,
    transfer_targets,
)
from workflow_api.selectors.audit import audit_action_list, audit_event_list
from workflow_api.selectors.impact import workflow_impact
from workflow_api.selectors.intake import (
    dead_letter_get,
    dead_letter_list,
    integration_error_get,
    integration_error_list,
    unrouted_ticket_list,
)
from workflow_api.selectors.integrations import integration_health_list
from workflow_api.selectors.queue import queue_keys, task_queue_count, task_queue_page
from workflow_api.selectors.reports import (
    agents_report,
    backlog_report,
    report_query,
    reports_scope,
    sla_report,
    steps_report,
    throughput_report,
)
from workflow_api.selectors.simulation import simulate_tickets
from workflow_api.selectors.tasks import (
    saved_view_get,
    saved_view_list,
    task_get,
    task_is_visible,
    task_list,
    task_list_count,
)
from workflow_api.selectors.workflows import (
    calendar_get,
    calendar_list,
    workflow_document,
    workflow_get,
    workflow_list,
)
from workflow_api.services import actions, availability, calendars, dead_letters, saved_views, workflows

# What each group of endpoints requires (tts_common.base.permissions); reads of workflows and calendars are open to every
# signed-in user (task pages show them).
ManagesWorkflows = RequirePermission(permissions.WORKFLOW_MANAGE)
ManagesWorkflowsOrReads = RequirePermission(permissions.WORKFLOW_MANAGE, reads_open=True)
ManagesCalendarsOrReads = RequirePermission(permissions.CALENDAR_MANAGE, reads_open=True)
ManagesUsers = RequirePermission(permissions.USERS_MANAGE)
ViewsReports = RequirePermission(permissions.REPORTS_VIEW)
ManagesDeadLetters = RequirePermission(permissions.DEAD_LETTERS_MANAGE)

_ERRORS = {
    400: OpenApiResponse(description="Invalid input: {status, code, detail, errors}"),
    403: OpenApiResponse(description="Not allowed"),
    404: OpenApiResponse(description="Not found (or not visible to the caller)"),
    409: OpenApiResponse(description="Not allowed in the resource's current state"),
}


# --- Workflows -----------------------------------------------------------------------------------------------------
def _workflow_response(workflow: Workflow, code: int = status.HTTP_200_OK) -> Response:
    return Response(serializers.WorkflowSerializer(workflow_get(workflow_id=workflow.pk)).data, status=code)


class WorkflowListCreateApi(generics.ListAPIView):
    """List workflow definitions (any authenticated user); define a draft (workflow.manage)."""

    permission_classes = [ManagesWorkflowsOrReads]
    serializer_class = serializers.WorkflowSerializer
    filterset_class = WorkflowFilter
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):
        return workflow_list()

    @extend_schema(request=serializers.WorkflowInputSerializer, responses={201: serializers.WorkflowSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = serializers.WorkflowInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workflow = workflows.workflow_create(actor=request.user, data=body.validated_data)
        return _workflow_response(workflow, status.HTTP_201_CREATED)


class WorkflowDetailApi(generics.GenericAPIView):
    """One workflow; PUT/PATCH change a draft (409 once deployed or archived: create a new version instead), or
    any workflow's SLA policy alone (calendar_id, sla_warning_thresholds), which recomputes its open tasks."""

    permission_classes = [ManagesWorkflowsOrReads]
    serializer_class = serializers.WorkflowSerializer

    def get(self, request: Request, workflow_id: int) -> Response:
        workflow = workflow_get(workflow_id=workflow_id)
        if workflow is None:
            raise NotFound("Workflow not found.")
        return Response(self.get_serializer(workflow).data)

    @extend_schema(request=serializers.WorkflowInputSerializer, responses={200: serializers.WorkflowSerializer, **_ERRORS})
    def put(self, request: Request, workflow_id: int) -> Response:
        return self._update(request, workflow_id, partial=False)

    @extend_schema(request=serializers.WorkflowInputSerializer, responses={200: serializers.WorkflowSerializer, **_ERRORS})
    def patch(self, request: Request, workflow_id: int) -> Response:
        return self._update(request, workflow_id, partial=True)

    def _update(self, request: Request, workflow_id: int, partial: bool) -> Response:
        body = serializers.WorkflowInputSerializer(data=request.data, patch=partial)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        revision = data.pop("revision", None)
        workflow = workflows.workflow_update(workflow_id=workflow_id, actor=request.user, data=data, revision=revision)
        return _workflow_response(workflow)


class WorkflowValidateApi(generics.GenericAPIView):
    """Check a whole definition (the body of POST /workflows/) as saving, then deploying it would, without saving
    anything: each problem keyed by its step or transition, for an editor to show there."""

    permission_classes = [IsAdmin]
    serializer_class = serializers.WorkflowCheckSerializer

    @extend_schema(request=serializers.WorkflowInputSerializer, responses={200: serializers.WorkflowCheckSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = serializers.WorkflowInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        problems = workflows.workflow_check(data=body.validated_data)  # type: ignore[arg-type]  (revision: ignored)
        result = {"valid": not problems, "problems": problems, "errors": workflows.problems_by_field(problems)}
        return Response(self.get_serializer(result).data)


class WorkflowImpactApi(generics.GenericAPIView):
    """Impact replay: the last tickets received (up to 1,000, unrouted ones included) replayed through intake's
    simulation with this workflow (or it with a proposed calendar) in place of the deployed version of its own
    workflow; answers the tickets whose workflow, first step, deadline or assignee role would change, and the load
    each role would gain or lose. Changes nothing (no writes, no pointer moves, nothing published)."""

    permission_classes = [IsAdmin]
    serializer_class = serializers.ImpactSerializer

    @extend_schema(request=serializers.ImpactInputSerializer, responses={200: serializers.ImpactSerializer, **_ERRORS})
    def post(self, request: Request, workflow_id: int) -> Response:
        body = serializers.ImpactInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workflow = workflow_get(workflow_id=workflow_id)
        if workflow is None:
            raise NotFound("Workflow not found.")
        if "calendar" in body.validated_data:
            workflow.calendar = calendars.calendar_unsaved(data=body.validated_data["calendar"])
        result = workflow_impact(workflow, limit=body.validated_data["limit"], now=timezone.now())
        return Response(self.get_serializer(result).data)


class WorkflowExportApi(generics.GenericAPIView):
    """The workflow as a JSON document (roles and calendar by name) that POST /workflows/import/ takes."""

    permission_classes = [IsAdmin]
    serializer_class = serializers.WorkflowDocumentSerializer

    def get(self, request: Request, workflow_id: int) -> Response:
        workflow = workflow_get(workflow_id=workflow_id)
        if workflow is None:
            raise NotFound("Workflow not found.")
        response = Response(self.get_serializer(workflow_document(workflow)).data)
        response["Content-Disposition"] = f'attachment; filename="workflow-{workflow.pk}-v{workflow.version}.json"'
        return response


class WorkflowImportApi(generics.GenericAPIView):
    """A new draft from an exported document; unknown roles or calendar: 400 naming the field."""

    permission_classes = [IsAdmin]
    serializer_class = serializers.WorkflowDocumentSerializer

    @extend_schema(responses={201: serializers.WorkflowSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        workflow = workflows.workflow_import(actor=request.user, document=body.validated_data)
        return _workflow_response(workflow, status.HTTP_201_CREATED)


class _WorkflowCommandApi(generics.GenericAPIView):
    permission_classes = [ManagesWorkflows]
    serializer_class = serializers.WorkflowSerializer
    command: Any  # staticmethod (workflow_id=, actor=) -> Workflow
    created = status.HTTP_200_OK

    @extend_schema(request=None, responses={200: serializers.WorkflowSerializer, **_ERRORS})
    def post(self, request: Request, workflow_id: int) -> Response:
        workflow = self.command(workflow_id=workflow_id, actor=request.user)
        return _workflow_response(workflow, self.created)


class WorkflowDeployApi(_WorkflowCommandApi):
    """Validate the graph and deploy a draft; the workflow deployed for the same match so far is archived."""

    command = staticmethod(workflows.workflow_deploy)


class WorkflowArchiveApi(_WorkflowCommandApi):
    """Archive: no new tickets are routed to it; its running tasks finish on it."""

    command = staticmethod(workflows.workflow_archive)


@extend_schema_view(post=extend_schema(request=None, responses={201: serializers.WorkflowSerializer, **_ERRORS}))
class WorkflowNewVersionApi(_WorkflowCommandApi):
    """Clone into a new draft (version + 1, same lineage); running tasks stay on their version."""

    command = staticmethod(workflows.workflow_new_version)
    created = status.HTTP_201_CREATED


# --- Calendars -----------------------------------------------------------------------------------------------------
def _calendar_response(calendar_id: int, code: int = status.HTTP_200_OK) -> Response:
    calendar = calendar_get(calendar_id=calendar_id)
    if calendar is None:
        raise NotFound("Calendar not found.")
    return Response(serializers.CalendarSerializer(calendar).data, status=code)


class CalendarListCreateApi(generics.ListAPIView):
    """Business calendars SLA clocks run on (any authenticated user); define one (calendar.manage)."""

    permission_classes = [ManagesCalendarsOrReads]
    serializer_class = serializers.CalendarSerializer

    def get_queryset(self):
        return calendar_list()

    @extend_schema(request=serializers.CalendarInputSerializer, responses={201: serializers.CalendarSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = serializers.CalendarInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        calendar = calendars.calendar_create(actor=request.user, data=body.validated_data)
        return _calendar_response(calendar.pk, status.HTTP_201_CREATED)


class CalendarDetailApi(generics.GenericAPIView):
    """One calendar; PUT/PATCH change it (the open tasks of its workflows get their deadlines recomputed); DELETE
    (409 while a workflow uses it)."""

    permission_classes = [ManagesCalendarsOrReads]
    serializer_class = serializers.CalendarSerializer

    def get(self, request: Request, calendar_id: int) -> Response:
        return _calendar_response(calendar_id)

    @extend_schema(request=serializers.CalendarInputSerializer, responses={200: serializers.CalendarSerializer, **_ERRORS})
    def put(self, request: Request, calendar_id: int) -> Response:
        return self._update(request, calendar_id, patch=False)

    @extend_schema(request=serializers.CalendarInputSerializer, responses={200: serializers.CalendarSerializer, **_ERRORS})
    def patch(self, request: Request, calendar_id: int) -> Response:
        return self._update(request, calendar_id, patch=True)

    @extend_schema(responses={204: None, **_ERRORS})
    def delete(self, request: Request, calendar_id: int) -> Response:
        calendars.calendar_delete(calendar_id=calendar_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, calendar_id: int, patch: bool) -> Response:
        body = serializers.CalendarInputSerializer(data=request.data, patch=patch)
        body.is_valid(raise_exception=True)
        calendars.calendar_update(calendar_id=calendar_id, actor=request.user, data=body.validated_data)
        return _calendar_response(calendar_id)


# --- Tasks ---------------------------------------------------------------------------------------------------------
def _visible_task(request: Request, task_id: UUID) -> Task:
    task = task_get(actor=request.user, task_id=task_id)
    if task is None:
        raise NotFound("Task not found.")
    return task


class TaskListCreateApi(generics.ListAPIView):
    """The caller's visible tasks (admins: all); admins create a task from an HDTS ticket."""

    serializer_class = serializers.TaskSerializer
    filterset_class = TaskFilter
    filter_backends = [FilterBackend]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return Task.objects.none()
        return task_list(actor=self.request.user)

    def count_rows(self, queryset: QuerySet[Task]) -> tuple[int, bool]:  # the pagination's count
        return task_list_count(actor=self.request.user, tasks=queryset)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        statuses = agent_queue_statuses(request.query_params)
        if statuses is None:
            return super().list(request, *args, **kwargs)
        # An agent's queue page: the same rows, read through the queue's compiled statements.
        user_id = request.user.id
        rows = self.paginator.paginate_keyset(
            request,
            list(queue_keys()),
            read=lambda walk, after, limit: task_queue_page(
                user_id=user_id, statuses=statuses, walk=walk, after=after, limit=limit
            ),
            count=lambda: task_queue_count(user_id=user_id, statuses=statuses),
        )
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def get_permissions(self):
        return [IsAdmin()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(request=TICKET_BODY, responses={201: serializers.TaskDetailSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        task = actions.task_create_from_ticket(ticket=request.data, actor=request.user)
        return Response(
            serializers.TaskDetailSerializer(_visible_task(request, task.pk)).data, status=status.HTTP_201_CREATED
        )


class TaskDetailApi(generics.GenericAPIView):
    """One task with its step history and assignment history."""

    serializer_class = serializers.TaskDetailSerializer

    def get(self, request: Request, task_id: UUID) -> Response:
        return Response(self.get_serializer(_visible_task(request, task_id)).data)


class TaskActionApi(generics.GenericAPIView):
    """Act on a task (its current assignee or an admin, holding the action's permission: ACTION_PERMISSIONS)."""

    serializer_class = serializers.TaskDetailSerializer

    @extend_schema(request=serializers.ActionInputSerializer, responses={200: serializers.TaskDetailSerializer, **_ERRORS})
    def post(self, request: Request, task_id: UUID) -> Response:
        if not task_is_visible(actor=request.user, task_id=task_id):  # 404 before anything else
            raise NotFound("Task not found.")
        body = serializers.ActionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.task_act(task_id=task_id, actor=request.user, **body.validated_data)
        return Response(self.get_serializer(_visible_task(request, task_id)).data)


class TaskTransferTargetsApi(generics.ListAPIView):
    """Who a visible task may be transferred to now: the active, available users of its current step's role."""

    serializer_class = serializers.UserRefSerializer
    pagination_class = None
    filter_backends: list[Any] = []  # a short list in the order given (the default backends order a queryset)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return []
        task = _visible_task(self.request, self.kwargs["task_id"])
        return transfer_targets(task=task, now=timezone.now())


class TaskBulkActionApi(generics.GenericAPIView):
    """Transfer, hold, resume or escalate up to 100 tasks at once. Each task is acted on as if one by one (the same
    rules: its current assignee or an admin; the same audit events and notifications), so some may be done and
    others refused: 200 with each task's outcome and, if refused, the reason its own action would have given.
    It takes the ``task.bulk`` permission; what the caller may do to each task is then decided per task, as for
    the one-by-one action (its own permission included)."""

    permission_classes = [RequirePermission(permissions.TASK_BULK)]
    serializer_class = serializers.BulkActionResultSerializer

    @extend_schema(request=serializers.BulkActionInputSerializer, responses={200: serializers.BulkActionResultSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = serializers.BulkActionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcomes = actions.task_act_in_bulk(actor=request.user, **body.validated_data)
        done = sum(outcome.done for outcome in outcomes)
        result = {"done": done, "refused": len(outcomes) - done, "results": outcomes}
        return Response(self.get_serializer(result).data)


class SavedViewListCreateApi(generics.ListAPIView):
    """The caller's saved task views (named filters, search and ordering); create one."""

    serializer_class = serializers.SavedViewSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return saved_view_list(owner_id=0)
        return saved_view_list(owner_id=self.request.user.id)

    @extend_schema(request=serializers.SavedViewSerializer, responses={201: serializers.SavedViewSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        view = saved_views.saved_view_create(owner_id=request.user.id, **body.validated_data)
        return Response(self.get_serializer(view).data, status=status.HTTP_201_CREATED)


class SavedViewDetailApi(generics.GenericAPIView):
    """One of the caller's saved views (another user's is a 404); PUT replaces its name and query."""

    serializer_class = serializers.SavedViewSerializer

    def get(self, request: Request, view_id: int) -> Response:
        view = saved_view_get(owner_id=request.user.id, view_id=view_id)
        if view is None:
            raise NotFound("Saved view not found.")
        return Response(self.get_serializer(view).data)

    @extend_schema(request=serializers.SavedViewSerializer, responses={200: serializers.SavedViewSerializer, **_ERRORS})
    def put(self, request: Request, view_id: int) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        view = saved_views.saved_view_update(owner_id=request.user.id, view_id=view_id, data=body.validated_data)
        return Response(self.get_serializer(view).data)

    @extend_schema(responses={204: None, **_ERRORS})
    def delete(self, request: Request, view_id: int) -> Response:
        saved_views.saved_view_delete(owner_id=request.user.id, view_id=view_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Assignment: availability, role settings, fairness -------------------------------------------------------------
class _AvailabilityApi(generics.GenericAPIView):
    serializer_class = serializers.AvailabilitySerializer

    def user_id(self, request: Request, **kwargs: Any) -> int:
        raise NotImplementedError

    def get(self, request: Request, **kwargs: Any) -> Response:
        current = availability_get(user_id=self.user_id(request, **kwargs))
        if current is None:
            raise NotFound("User not found.")
        return Response(self.get_serializer(current).data)

    @extend_schema(request=serializers.AvailabilityInputSerializer, responses={200: serializers.AvailabilitySerializer, **_ERRORS})
    def put(self, request: Request, **kwargs: Any) -> Response:
        body = serializers.AvailabilityInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        availability.availability_set(
            user_id=self.user_id(request, **kwargs), data=body.validated_data, actor=request.user
        )
        return self.get(request, **kwargs)


class MyAvailabilityApi(_AvailabilityApi):
    """The caller's own availability: away or unavailable users get no new tasks; unavailable ones also hand
    their open tasks on. An out-of-office window makes the user away for its duration."""

    def user_id(self, request: Request, **kwargs: Any) -> int:
        return request.user.id


class AgentAvailabilityApi(_AvailabilityApi):
    """Any user's availability (users.manage)."""

    permission_classes = [ManagesUsers]

    def user_id(self, request: Request, **kwargs: Any) -> int:
        return kwargs["user_id"]


class AgentListApi(generics.ListAPIView):
    """Users the engine knows, with their availability, roles and open tasks (users.manage); filters: search, status, role."""

    permission_classes = [ManagesUsers]
    serializer_class = serializers.AgentSerializer
    filterset_class = AgentFilter
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):
        return agent_list()


class RoleSettingsApi(generics.GenericAPIView):
    """A role's assignment settings (users.manage): its lead takes tasks of steps whose no-eligible policy is
    escalate_to_lead."""

    permission_classes = [ManagesUsers]
    serializer_class = serializers.RoleSettingsSerializer

    def get(self, request: Request, role_id: int) -> Response:
        current = role_settings_get(role_id=role_id)
        return Response({"role_id": role_id, "lead_user_id": current.lead_user_id if current else None})

    @extend_schema(request=serializers.RoleSettingsInputSerializer, responses={200: serializers.RoleSettingsSerializer, **_ERRORS})
    def put(self, request: Request, role_id: int) -> Response:
        body = serializers.RoleSettingsInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lead_user_id = body.validated_data["lead_user_id"]
        availability.role_settings_set(role_id=role_id, lead_user_id=lead_user_id, actor=request.user)
        return self.get(request, role_id)


class RoleFairnessApi(generics.GenericAPIView):
    """Assignments per user of a role over [since, until) (reports.view), and the spread (max - min)."""

    permission_classes = [ViewsReports]
    serializer_class = serializers.FairnessSerializer

    @extend_schema(parameters=[serializers.FairnessQuerySerializer], responses={200: serializers.FairnessSerializer, **_ERRORS})
    def get(self, request: Request, role_id: int) -> Response:
        query = serializers.FairnessQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(self.get_serializer(role_fairness(role_id=role_id, **query.validated_data)).data)


# --- Audit ---------------------------------------------------------------------------------------------------------
class AuditEventListApi(generics.ListAPIView):
    """The audit log, newest first (admins only); filters: actor (username) or actor_id, task, entity_type and
    entity_id, ticket_id, action, occurred_after/occurred_before."""

    permission_classes = [IsAdmin]
    serializer_class = serializers.AuditEventSerializer
    filterset_class = AuditEventFilter
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):
        return audit_event_list()


class AuditActionListApi(generics.GenericAPIView):
    """The event types recorded so far (admins): what the audit log's ``action`` filter can match."""

    permission_classes = [IsAdmin]
    serializer_class = serializers.AuditActionsSerializer
    pagination_class = None

    def get(self, request: Request) -> Response:
        return Response(self.get_serializer({"actions": audit_action_list()}).data)


# --- Intake bookkeeping: dead letters, integration errors, unrouted tickets (admins only) ----------------------------
def _dead_letter_response(dead_letter_id: int) -> Response:
    letter = dead_letter_get(dead_letter_id=dead_letter_id)
    if letter is None:
        raise NotFound("Dead letter not found.")
    return Response(serializers.DeadLetterDetailSerializer(letter).data)


class DeadLetterListApi(generics.ListAPIView):
    """Tickets that could never be ingested, newest first, as taken from TICKET_TASKS_PRODUCTION_DLQ (within a
    drain interval of being dead-lettered)."""

    permission_classes = [ManagesDeadLetters]
    serializer_class = serializers.DeadLetterSerializer
    filterset_class = DeadLetterFilter
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):
        return dead_letter_list()


class DeadLetterDetailApi(generics.GenericAPIView):
    """One dead letter with the original message's kwargs."""

    permission_classes = [ManagesDeadLetters]
    serializer_class = serializers.DeadLetterDetailSerializer

    @extend_schema(responses={200: serializers.DeadLetterDetailSerializer, **_ERRORS})
    def get(self, request: Request, dead_letter_id: int) -> Response:
        return _dead_letter_response(dead_letter_id)


class DeadLetterReprocessApi(generics.GenericAPIView):
    """Republish the ticket (or a corrected ``ticket``) to TICKET_TASKS_PRODUCTION; the letter becomes
    ``reprocessed`` and its integration error ``resolved``. 409 unless the letter is pending."""

    permission_classes = [ManagesDeadLetters]
    serializer_class = serializers.DeadLetterDetailSerializer

    @extend_schema(
        request=serializers.DeadLetterReprocessInputSerializer,
        responses={200: serializers.DeadLetterDetailSerializer, **_ERRORS},
    )
    def post(self, request: Request, dead_letter_id: int) -> Response:
        body = serializers.DeadLetterReprocessInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dead_letters.dead_letter_reprocess(dead_letter_id=dead_letter_id, actor=request.user, **body.validated_data)
        return _dead_letter_response(dead_letter_id)


class DeadLetterDiscardApi(generics.GenericAPIView):
    """Give a pending dead letter up (its integration error ``resolved``); nothing is republished."""

    permission_classes = [ManagesDeadLetters]
    serializer_class = serializers.DeadLetterDetailSerializer

    @extend_schema(
        request=serializers.DeadLetterDiscardInputSerializer,
        responses={200: serializers.DeadLetterDetailSerializer, **_ERRORS},
    )
    def post(self, request: Request, dead_letter_id: int) -> Response:
        body = serializers.DeadLetterDiscardInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dead_letters.dead_letter_discard(dead_letter_id=dead_letter_id, actor=request.user, **body.validated_data)
        return _dead_letter_response(dead_letter_id)


class IntegrationErrorListApi(generics.ListAPIView):
    """Messages from other systems that gave up (invalid, badly signed, or failing until retries ran out)."""

    permission_classes = [ManagesDeadLetters]
    serializer_class = serializers.IntegrationErrorSerializer
    filterset_class = IntegrationErrorFilter
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):
        return integration_error_list()


class IntegrationErrorDetailApi(generics.GenericAPIView):
    """One integration error; PATCH sets its resolution status."""

    permission_classes = [ManagesDeadLetters]
    serializer_class = serializers.IntegrationErrorSerializer

    def get(self, request: Request, error_id: int) -> Response:
        error = integration_error_get(error_id=error_id)
        if error is None:
            raise NotFound("Integration error not found.")
        return Response(self.get_serializer(error).data)

    @extend_schema(
        request=serializers.IntegrationErrorStatusInputSerializer,
        responses={200: serializers.IntegrationErrorSerializer, **_ERRORS},
    )
    def patch(self, request: Request, error_id: int) -> Response:
        body = serializers.IntegrationErrorStatusInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dead_letters.integration_error_set_status(error_id=error_id, actor=request.user, **body.validated_data)
        return self.get(request, error_id)


class UnroutedTicketListApi(generics.ListAPIView):
    """Valid tickets no deployed workflow matched, newest first; each is routed once a matching workflow deploys
    (``routed=false``: those still waiting)."""

    permission_classes = [ManagesDeadLetters]
    serializer_class = serializers.UnroutedTicketSerializer
    filterset_class = UnroutedTicketFilter
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):
        return unrouted_ticket_list()


# --- Outside systems (admins only) -----------------------------------------------------------------------------------
class IntegrationHealthApi(generics.GenericAPIView):
    """AMS and BMS as the workflow engine's calls found them: status, circuit state, call and error counts, last
    latency, last success and last error (kept deployment-wide; circuit state as the last caller saw it)."""

    permission_classes = [IsAdmin]
    serializer_class = serializers.IntegrationHealthSerializer
    pagination_class = None

    @extend_schema(responses=serializers.IntegrationHealthSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(integration_health_list(), many=True).data)


# --- Routing simulator ---------------------------------------------------------------------------------------------
class SimulateApi(generics.GenericAPIView):
    """Dry run of intake (workflow.manage): what tasks, deadlines, steps and users tickets would get, and why. Changes
    nothing (no writes, no pointer moves, nothing published)."""

    permission_classes = [ManagesWorkflows]
    serializer_class = serializers.SimulationResultSerializer

    @extend_schema(
        request={
            "application/json": {
                "oneOf": [
                    {"type": "object", "properties": {"tickets": {
                        "type": "array", "items": TICKET_OPENAPI,
                        "minItems": 1, "maxItems": serializers.SIMULATE_MAX_TICKETS,
                    }}, "required": ["tickets"]},
                    TICKET_OPENAPI,
                ]
            }
        },
        responses={200: serializers.SimulationResultSerializer, **_ERRORS},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        body = request.data
        if isinstance(body, dict) and "tickets" not in body:
            body = {"tickets": [body]}  # one bare ticket
        data = serializers.SimulateInputSerializer(data=body)
        data.is_valid(raise_exception=True)
        now = timezone.now()
        results = simulate_tickets(data.validated_data["tickets"], now=now)
        return Response(self.get_serializer({"simulated_at": now, "results": results}).data)


# --- Reports ---------------------------------------------------------------------------------------------------------
class _ReportApi(generics.GenericAPIView):
    """A report for the caller's scope (selectors.reports.reports_scope): JSON, or one of its tables as CSV
    (``?format=csv`` or ``Accept: text/csv``, formula-like text neutralised). Errors are always JSON."""

    renderer_classes = [JSONRenderer, CSVRenderer]
    pagination_class = None
    report: Any  # staticmethod (query, scope) -> {table: rows}
    tables: tuple[str, ...] = ("rows",)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # An unknown ?format= is the query serializer's 400 (not DRF's 404); anything not asking for CSV gets JSON.
        try:
            return super().perform_content_negotiation(request, force)
        except (Http404, NotAcceptable):
            return JSONRenderer(), JSONRenderer.media_type

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.status_code >= 400 and isinstance(getattr(request, "accepted_renderer", None), CSVRenderer):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def get(self, request: Request) -> Response:
        params = serializers.ReportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = {key: value for key, value in params.validated_data.items() if key != "format"}
        query, table = report_query(tables=self.tables, **values)
        data = self.report(query, reports_scope(request.user))
        if isinstance(request.accepted_renderer, CSVRenderer):
            columns = list(self.get_serializer().fields[table].child.fields)
            return Response({"columns": columns, "rows": data[table]})
        return Response(self.get_serializer(data).data)


def _report_schema(serializer: type, description: str) -> Any:
    return extend_schema(
        description=description,
        parameters=[serializers.ReportQuerySerializer],
        responses={
            (200, "application/json"): serializer,
            (200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR, description="One table as CSV, with a header row."),
            400: _ERRORS[400],
        },
    )


@extend_schema_view(get=_report_schema(serializers.SlaReportSerializer, "SLA achievement per period or group; open tasks at risk."))
class SlaReportApi(_ReportApi):
    serializer_class = serializers.SlaReportSerializer
    report = staticmethod(sla_report)
    tables = ("rows", "at_risk")


@extend_schema_view(get=_report_schema(serializers.ThroughputReportSerializer, "Tasks created, completed, ... per period or group."))
class ThroughputReportApi(_ReportApi):
    serializer_class = serializers.ThroughputReportSerializer
    report = staticmethod(throughput_report)


@extend_schema_view(get=_report_schema(serializers.BacklogReportSerializer, "Open tasks by age, role and step; the oldest."))
class BacklogReportApi(_ReportApi):
    serializer_class = serializers.BacklogReportSerializer
    report = staticmethod(backlog_report)
    tables = ("by_age", "oldest")


@extend_schema_view(get=_report_schema(serializers.StepsReportSerializer, "Time spent per workflow step, SLA share used, breaches."))
class StepsReportApi(_ReportApi):
    serializer_class = serializers.StepsReportSerializer
    report = staticmethod(steps_report)


@extend_schema_view(get=_report_schema(serializers.AgentsReportSerializer, "Per agent: work done, open, time to action, CSAT."))
class AgentsReportApi(_ReportApi):
    serializer_class = serializers.AgentsReportSerializer
    report = staticmethod(agents_report)
