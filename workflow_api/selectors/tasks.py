"""Reads of tasks: who may see which task, and each task's SLA state, computed in the database so it can be
filtered and ordered on."""
from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

from django.contrib.postgres.search import SearchQuery
from django.db import models
from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Now
from django.db.models.lookups import Exact, GreaterThan, LessThanOrEqual, Lookup
from django.db.models.sql.constants import INNER

from tts_common.http.auth import TokenUser, is_admin
from tts_common.http.pagination import count_rows, count_sql_rows, planner_estimate
from workflow_api.models import (
    SEARCH_CONFIG,
    SLA_WARNING_DIVISOR,
    Assignment,
    Priority,
    SavedTaskView,
    StepInstance,
    Task,
    Workflow,
    priority_rank,
)


class SlaState(models.TextChoices):
    OK = "ok"
    WARNING = "warning"  # a quarter or less of the SLA left (75 % used)
    BREACHED = "breached"


@cache
def _workflow_sla() -> Subquery:
    """The task's workflow's SLA for the task's priority. A subquery rather than a join to the workflow: a join would
    stay in the list's count (Django keeps an inner join), read once per counted task; the subquery runs only for the
    rows shown (or where sla_state is filtered). Built once per process (each use resolves a copy): its queryset
    was a third of the CPU of annotating the SLA state."""
    sla_of_priority = Case(
        *(When(Exact(OuterRef("priority"), priority), then=F(f"sla_{priority}")) for priority in Priority.values),
        output_field=DurationField(),
    )
    return Subquery(Workflow.objects.filter(pk=OuterRef("workflow_id")).values(sla=sla_of_priority))


def _with_sla_state(queryset: QuerySet[Task]) -> QuerySet[Task]:
    # The clock stops while the task is on hold and when it is closed; otherwise it reads the statement's time
    # (Now: PostgreSQL's statement_timestamp()), not a value given per request, so the lists' rows, SLA state
    # included, are resolved once per process (task_list_rows).
    as_of = Coalesce("on_hold_since", "completed_at", Now(), output_field=DateTimeField())
    left = ExpressionWrapper((F("sla_deadline") - as_of) * SLA_WARNING_DIVISOR, output_field=DurationField())
    # The monitor's rule (services.sla): the time left against the workflow's SLA for the priority, so hold time
    # (which pushed the deadline out) never counts as elapsed.
    warning = LessThanOrEqual(left, _workflow_sla())
    return queryset.annotate(
        sla_state=Case(
            When(GreaterThan(as_of, F("sla_deadline")), then=Value(SlaState.BREACHED.value)),
            When(warning, then=Value(SlaState.WARNING.value)),
            default=Value(SlaState.OK.value),
            output_field=models.CharField(),
        )
    )


# Ties (tasks created in one batch) are broken by task_id in the same direction, so one index on
# (created_at, task_id) serves the list forwards and backwards, as for every ordering of TaskFilter.
NEWEST_FIRST = ("-created_at", "-task_id")


def task_count() -> int:
    return Task.objects.count()


# What the list shows (TaskSerializer); the detail reads every column.
LIST_COLUMNS = (
    "task_id", "workflow_id", "external_ticket_id", "title", "description", "priority", "status", "current_step_id",
    "assigned_user_id", "owner_id", "sla_deadline", "on_hold_since", "created_at", "updated_at", "completed_at",
)  # fmt: skip


def _with_names(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """The names TaskSerializer shows of the task's current step, its role, assignee and owner, read as columns of
    the task's row (NULL where there is none): not as related model instances, four per row, whose building was a
    tenth of a list's CPU."""
    return tasks.annotate(
        current_step_name=F("current_step__name"),
        role_id=F("current_step__role_id"),
        role_name=F("current_step__role__name"),
        assigned_username=F("assigned_user__username"),
        owner_username=F("owner__username"),
    )


# The tasks a user held (assignment_user_created) or owns (task_owner_created) without having held them, each side
# free of duplicates (a task held twice comes out once): no DISTINCT over the union, whose size the planner cannot
# estimate (it guessed 200 rows, then a join of 1). Each side is read in the list's default order, so a
# newest-first page (_NEWEST_FIRST_SQL) merges the two ordered scans and stops after the page. The tasks a user is
# assigned are among those held: every assignment writes its Assignment row. {among}: nothing, or a condition
# keeping a few given tasks (_AMONG_SQL).
_VISIBLE_SQL = f"""SELECT created_at, task_id FROM (
    (SELECT DISTINCT task_created_at AS created_at, task_id FROM {Assignment._meta.db_table} WHERE user_id = %s{{among}}
     ORDER BY created_at DESC, task_id DESC)
    UNION ALL
    SELECT created_at, task_id FROM {Task._meta.db_table} AS owned WHERE owner_id = %s{{among}} AND NOT EXISTS (
        SELECT 1 FROM {Assignment._meta.db_table} AS held WHERE held.task_id = owned.task_id AND held.user_id = %s
    )
) AS held_or_owned"""
_AMONG_SQL = " AND task_id = ANY(%s::uuid[])"  # the ids as one literal: _uuid_array
_NEWEST_FIRST_SQL = " ORDER BY created_at DESC, task_id DESC"


class _VisibleJoin:
    """``INNER JOIN (_VISIBLE_SQL) ON`` task id *and* created_at: a join Django's ORM cannot write, added to the
    list's query as its own join (the interface of django.db.models.sql.datastructures.Join), so filters, ordering,
    paging and counting compose with it as with any join. Joining on created_at too tells the planner the task's
    created_at equals the visible row's: the list's newest-first ORDER BY ... LIMIT is then the merged ordered scans
    read a page at a time, each row fetched by primary key, whatever the length of the user's history."""

    table_name = "visible"
    join_type = INNER
    nullable = False
    filtered_relation = None

    def __init__(
        self, user_id: int, parent_alias: str, table_alias: str = table_name, among: tuple[UUID, ...] | None = None
    ) -> None:
        self.user_id, self.parent_alias, self.table_alias, self.among = user_id, parent_alias, table_alias, among

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        quote = compiler.quote_name_unless_alias
        task, visible = quote(self.parent_alias), quote(self.table_alias)
        on = f"{task}.task_id = {visible}.task_id AND {task}.created_at = {visible}.created_at"
        sql, params = _visible_sql(self.user_id, self.among)
        return f"{self.join_type} ({sql}{self._order(compiler.query)}) {visible} ON ({on})", params

    def among_tasks(self, task_ids: list[UUID]) -> _VisibleJoin:
        """The same join, the visible set read only for these tasks (a search's few matches): each side then
        probes them by task id instead of reading the user's whole history (the busiest agent's 25,000 tasks, 22 ms,
        for a term in 94 tasks)."""
        return _VisibleJoin(self.user_id, self.parent_alias, self.table_alias, tuple(task_ids))

    @staticmethod
    def _order(query: Any) -> str:
        """Newest first when the list is: its page then streams from the visible set's ordered scans. Any other
        ordering, and a count, take the set unordered (it was sorted for nothing: at 1M tasks the busiest agent's
        search count spent 35 ms sorting it, in parallel workers).

        A page of the unfiltered list in its default order is the visible set's first rows, one task each: the set
        is then read no further than the page (LIMIT). Said to the planner, which estimates the join at one row (it
        multiplies the two columns' selectivities) and so planned the whole set for a page: sorted in parallel
        workers, or streamed at a cost that made it JIT-compile the statement (40 ms)."""
        if tuple(query.order_by) != NEWEST_FIRST:
            return ""
        limit = f" LIMIT {int(query.high_mark)}" if not query.where and query.high_mark is not None else ""
        return _NEWEST_FIRST_SQL + limit

    def relabeled_clone(self, change_map: dict[str, str]) -> _VisibleJoin:
        return _VisibleJoin(
            self.user_id,
            change_map.get(self.parent_alias, self.parent_alias),
            change_map.get(self.table_alias, self.table_alias),
            self.among,
        )

    @property
    def identity(self) -> tuple[Any, ...]:
        return (self.__class__, self.user_id, self.parent_alias, self.table_alias, self.among)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _VisibleJoin) and self.identity == other.identity

    def __hash__(self) -> int:
        return hash(self.identity)

    def demote(self) -> _VisibleJoin:
        return self

    def promote(self) -> _VisibleJoin:
        raise NotImplementedError("the visible tasks are an inner join: never promoted to an outer one")


def _visible_sql(user_id: int, among: tuple[UUID, ...] | None = None) -> tuple[str, list[Any]]:
    """:data:`_VISIBLE_SQL` of ``user_id`` (among these tasks only, if given) and its parameters."""
    if among is None:
        return _VISIBLE_SQL.format(among=""), [user_id] * 3
    ids = _uuid_array(among)
    return _VISIBLE_SQL.format(among=_AMONG_SQL), [user_id, ids, user_id, ids, user_id]


def _uuid_array(ids: tuple[UUID, ...] | list[UUID]) -> str:
    """``ids`` as one ``uuid[]`` literal, one parameter: Django's cursor quotes each parameter into the SQL in
    Python (~25 µs a value), so a search's hundred matches as a list, in each of a list's three statements, cost
    milliseconds."""
    return "{" + ",".join(map(str, ids)) + "}"


class _TaskIdAmong(Lookup):
    """``task_id = ANY(<ids>::uuid[])`` with the ids as one array literal (:func:`_uuid_array`), in place of
    ``pk__in``'s parameter per id. Its presence in a list's WHERE marks a search's few matches
    (:func:`task_list_count` counts those without asking the planner first)."""

    prepare_rhs = False  # the literal is SQL text for the array, not a UUID to prepare

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs}::uuid[])", (*lhs_params, *rhs_params)


def _visible_tasks(tasks: QuerySet[Task], user_id: int) -> QuerySet[Task]:
    tasks = tasks.all()
    # Query.join takes anything with Join's interface; the stubs name only Join and BaseTable.
    tasks.query.join(_VisibleJoin(user_id, tasks.query.get_initial_alias()))  # type: ignore[arg-type]
    return tasks


def tasks_assigned_or_owned(tasks: QuerySet[Task], *, user_id: int | Expression) -> QuerySet[Task]:
    """The tasks of ``tasks`` (:func:`task_list`'s) assigned to or owned by the user: their queue (``?mine=true``).
    Each is visible to the user, so an agent's visible-set join is left out of the query: it filtered nothing here,
    and read the agent's whole history to do it (at 1,000,000 tasks the busiest agent's queue page and its count
    took 4 ms each, to find 10 open tasks among 25,000 held)."""
    tasks = tasks.filter(Q(assigned_user_id=user_id) | Q(owner_id=user_id))
    for alias, join in tasks.query.alias_map.items():
        if isinstance(join, _VisibleJoin):
            tasks.query.alias_refcount[alias] = 0  # the compiler leaves an unreferenced join out of FROM
    return tasks


def _visible_to(actor: TokenUser) -> Q:
    """The same visibility as :func:`_visible_tasks`, for reading one task (its primary key found first)."""
    if is_admin(actor):
        return Q()
    held = Assignment.objects.filter(task=OuterRef("pk"), user_id=actor.id)
    return Q(assigned_user_id=actor.id) | Q(owner_id=actor.id) | Q(Exists(held))


@cache
def task_list_rows() -> QuerySet[Task]:
    """What every list reads of a task, with its priority's rank (TaskFilter orders by it), built once per process:
    resolving the expressions and computing their identities (Django hashes them while compiling) cost a list a
    millisecond or two of CPU each time (the SLA state's a tenth of a 50-client load). Never evaluated: each list
    starts from a copy."""
    return _with_sla_state(_with_names(Task.objects.only(*LIST_COLUMNS)).annotate(priority_rank=priority_rank()))


def task_list(*, actor: TokenUser) -> QuerySet[Task]:
    """The tasks ``actor`` may see, newest first: admins see all; agents see the tasks assigned to them, owned by
    them, or that they held at some point (so their own past work stays reachable)."""
    tasks = task_list_rows().all() if is_admin(actor) else _visible_tasks(task_list_rows(), actor.id)
    return tasks.order_by(*NEWEST_FIRST)


def task_list_count(*, actor: TokenUser, tasks: QuerySet[Task]) -> tuple[int, bool]:
    """``(count, is_estimate)`` of ``tasks`` (:func:`task_list`'s, filtered), as every list counts
    (tts_common.http.pagination.count_rows). A user's unfiltered list is their visible set, counted on its own:
    not joined task by task (a busy agent's thousands) to the task table first."""
    if any(isinstance(condition, _TaskIdAmong) for condition in tasks.query.where.children):
        return tasks.order_by().values("pk").count(), False  # a search's few matches: exact, nothing to estimate
    if is_admin(actor) or tasks.query.where:
        return count_rows(tasks)
    return count_sql_rows(*_visible_sql(actor.id), using=tasks.db)


SEARCH_MAX_LENGTH = 200
# A search with at most this many matches is answered from their ids, read through the GIN index.
SEARCH_FEW_MATCHES = 2_000
# PostgreSQL assumes a word its statistics do not hold to be in 0.5 % of the tasks (DEFAULT_TS_MATCH_SEL), however
# rare: a search expected in at most this share (or to match at most SEARCH_FEW_MATCHES) may be rare, and its matches
# are read before the plan is chosen.
SEARCH_UNKNOWN_SHARE = 0.01


def task_search(tasks: QuerySet[Task], *, text: str) -> QuerySet[Task]:
    """The tasks whose ticket id, title or description match ``text``, read as a web search box reads it (words
    all present, "a phrase", -excluded, or): through websearch_to_tsquery with ``text`` as a parameter, so quotes,
    operators and SQL in it are only ever words to look for.

    The plan follows the matches, not only the planner's estimate of them. For a word outside the index's
    most-common-elements statistics (a ticket id, a name) PostgreSQL assumes 0.5 % of the table (5,000 rows of
    1,000,000), so for the newest 50 it walks task_created checking every task, all of them when there is one
    match. So unless the planner knows the term to be common, its matches are first read through the GIN index
    (task_search_document), at most SEARCH_FEW_MATCHES + 1 of them; if that is all there are, the list is those
    tasks by primary key (whatever else it filters, joins or orders by, and its count exact and cheap), an agent's
    visible set read for those tasks alone. A common term is left to the planner: newest first, it walks
    task_created checking each task's stored document."""
    query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
    matching = Task.objects.filter(search_document=query)
    few = _few_matches(matching)
    if few is not None:
        return _among(tasks, few)
    return tasks.filter(search_document=query)


def _among(tasks: QuerySet[Task], task_ids: list[UUID]) -> QuerySet[Task]:
    """``tasks`` with these primary keys, a visible-set join among them alone."""
    tasks = tasks.filter(_TaskIdAmong(F("pk"), _uuid_array(task_ids)))
    joins = tasks.query.alias_map
    for alias, join in list(joins.items()):
        if isinstance(join, _VisibleJoin):
            joins[alias] = join.among_tasks(task_ids)
    return tasks


def _few_matches(matching: QuerySet[Task]) -> list[UUID] | None:
    """The ids of ``matching`` if there are at most SEARCH_FEW_MATCHES; None if there are more, or if the planner
    knows the term to be common (its statistics then hold its share, and the list's own plan suits it)."""
    expected = _planner_rows(matching)
    if expected > SEARCH_FEW_MATCHES and expected > SEARCH_UNKNOWN_SHARE * _planner_rows(Task.objects.all()):
        return None
    ids = list(matching.order_by().values_list("pk", flat=True)[: SEARCH_FEW_MATCHES + 1])
    return ids if len(ids) <= SEARCH_FEW_MATCHES else None


def _planner_rows(queryset: QuerySet[Task]) -> int:
    return planner_estimate(queryset.order_by().values("pk"))


def task_is_visible(*, actor: TokenUser, task_id: UUID) -> bool:
    return Task.objects.filter(_visible_to(actor), pk=task_id).exists()


def task_get(*, actor: TokenUser, task_id: UUID) -> Task | None:
    """One visible task with its step history, assignments, assignment decisions and pauses; ``None`` if it does not exist *or* is not visible,
    so the API answers 404 either way and does not reveal other users' tasks."""
    tasks = _with_names(Task.objects.filter(_visible_to(actor), pk=task_id))
    return (
        _with_sla_state(tasks)
        .prefetch_related(
            Prefetch("step_instances", queryset=StepInstance.objects.select_related("step")),
            Prefetch("assignments", queryset=Assignment.objects.select_related("user", "role")),
            "decisions",
            "pauses",
        )
        .first()
    )


def saved_view_list(*, owner_id: int) -> QuerySet[SavedTaskView]:
    return SavedTaskView.objects.filter(owner_id=owner_id)


def saved_view_get(*, owner_id: int, view_id: int) -> SavedTaskView | None:
    """The caller's own view; another user's is ``None`` like a missing one (the API answers 404 either way)."""
    return saved_view_list(owner_id=owner_id).filter(pk=view_id).first()
