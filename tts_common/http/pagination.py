"""How every list pages: ``{count, count_is_estimate, next, previous, results}``.

``?page=`` (DESIGN §5) pages by offset, which the database pays for by reading every row before the page.
``?cursor=`` pages by keyset: the page starts after (or, going back, before) the row its cursor names, on the list's
own ordering keys, so page 1,000 costs what page 1 does. An empty ``?cursor=`` starts; ``next`` and ``previous`` then
carry cursors. Cursors are signed (they are the server's own, never input to trust) and name the ordering they were
made for.

``count`` is exact below :data:`EXACT_COUNT_LIMIT`: counting stops there (a bounded count never reads more rows).
Above it, and where the planner expects at least :data:`TRUSTED_ESTIMATE` rows, ``count`` is the planner's
estimate (EXPLAIN of the list's query, no rows read) and ``count_is_estimate`` is true. A list that ends on the page
asked, with the rows before that page known (an offset page, a first keyset page), is counted by the page itself:
no statement at all (an agent's queue of a dozen open tasks spent a quarter of its CPU counting them, twice).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

from django.core import signing
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import connections
from django.db.models import Case, Model, Q, QuerySet, Value
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination, _positive_int
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

EXACT_COUNT_LIMIT = 10_000
# A planner estimate this large is taken without counting: estimates are off by a small factor, not by ten.
TRUSTED_ESTIMATE = 10 * EXACT_COUNT_LIMIT
MAX_PAGE = 1_000_000  # past any real list; keeps OFFSET a small number
_CURSOR_SALT = "tts_common.http.pagination.cursor"


def count_rows(queryset: Any) -> tuple[int, bool]:
    """``(count, is_estimate)`` of a list: exact below EXACT_COUNT_LIMIT, else the planner's estimate."""
    if not isinstance(queryset, QuerySet):
        return len(queryset), False
    # Only the rows' keys: the columns and joins the page shows (select_related, annotations not filtered on) are
    # neither planned nor read.
    keys = queryset.order_by().values("pk")
    postgres = connections[queryset.db].vendor == "postgresql"
    estimate = planner_estimate(keys) if postgres else 0
    if estimate >= TRUSTED_ESTIMATE:
        return estimate, True
    # A bounded count reads at most EXACT_COUNT_LIMIT rows, whatever the list's size.
    counted = keys[:EXACT_COUNT_LIMIT].count() if postgres else keys.count()
    if counted < EXACT_COUNT_LIMIT or not postgres:
        return counted, False
    return max(estimate, EXACT_COUNT_LIMIT), True


def count_sql_rows(sql: str, params: list[Any], *, using: str = "default") -> tuple[int, bool]:
    """:func:`count_rows` of a raw SELECT (PostgreSQL): counted up to EXACT_COUNT_LIMIT rows, else the planner's
    estimate (at least the limit)."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM ({sql}) AS listed LIMIT {EXACT_COUNT_LIMIT}) AS bounded", params)
        (counted,) = cursor.fetchone()
        if counted < EXACT_COUNT_LIMIT:
            return counted, False
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (document,) = cursor.fetchone()
    return max(_plan_rows(document), EXACT_COUNT_LIMIT), True


def planner_estimate(queryset: QuerySet[Any]) -> int:
    """The rows PostgreSQL expects ``queryset`` to return (EXPLAIN: nothing is read)."""
    document = queryset.explain(format="json")
    if not document:  # an empty result Django knew without asking (``.none()``, ``__in=[]``)
        return 0
    return _plan_rows(document)


def _plan_rows(document: Any) -> int:
    """The top node's row estimate of an ``EXPLAIN (FORMAT JSON)`` answer (text, or already decoded by the driver)."""
    plan = json.loads(document) if isinstance(document, str) else document
    return int(plan[0]["Plan"]["Plan Rows"])


# --- Keyset paging -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderingKey:
    name: str  # as order_by names it: a field path or an annotation
    descending: bool
    nullable: bool

    @property
    def term(self) -> str:
        return f"-{self.name}" if self.descending else self.name

    def flipped(self) -> OrderingKey:
        return OrderingKey(self.name, not self.descending, self.nullable)

    def value(self, row: Model) -> Any:
        value: Any = row
        for part in self.name.split("__"):
            value = getattr(value, part)
            if value is None:
                return None
        return value

    # PostgreSQL sorts NULL after every value ascending, before every value descending.
    def after(self, value: Any) -> Q | None:
        """The rows this key puts after ``value``; None: none."""
        if value is None:
            return Q(**{f"{self.name}__isnull": False}) if self.descending else None
        later = Q(**{f"{self.name}__{'lt' if self.descending else 'gt'}": value})
        if self.nullable and not self.descending:
            later |= Q(**{f"{self.name}__isnull": True})
        return later

    def equal(self, value: Any) -> Q:
        return Q(**{f"{self.name}__isnull": True}) if value is None else Q(**{self.name: value})

    def from_on(self, value: Any) -> Q:
        """``value`` and what follows it, as one range an index on the key can scan."""
        return Q(**{f"{self.name}__{'lte' if self.descending else 'gte'}": value})


def ordering_keys(queryset: QuerySet[Any]) -> list[OrderingKey]:
    """The queryset's ordering, ended by its primary key so that every row has its own place."""
    query = queryset.query
    terms = list(query.order_by or (queryset.model._meta.ordering if query.default_ordering else []))
    keys = []
    for term in terms:
        if not isinstance(term, str) or term == "?":
            raise ImproperlyConfigured(f"keyset paging orders by field names only, not {term!r}")
        name = term.lstrip("-")
        keys.append(OrderingKey(name, term.startswith("-"), _nullable(queryset, name)))
    pk_names = {"pk", queryset.model._meta.pk.name}
    if not any(key.name in pk_names for key in keys):
        keys.append(OrderingKey("pk", False, False))
    return keys


def _nullable(queryset: QuerySet[Any], name: str) -> bool:
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        # Of expressions, only a CASE with a non-null default is known never to be null.
        default = getattr(annotation, "default", None)
        return not (isinstance(annotation, Case) and isinstance(default, Value) and default.value is not None)
    model, nullable = queryset.model, False
    for part in name.split("__"):
        try:
            field = model._meta.pk if part == "pk" else model._meta.get_field(part)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(f"keyset paging cannot order by {name!r}") from None
        nullable = nullable or field.null
        if field.is_relation:
            model = field.related_model
    if field.is_relation:
        raise ImproperlyConfigured(f"keyset paging orders by columns, not by the relation {name!r}")
    return nullable


def keyset_after(keys: list[OrderingKey], values: list[Any]) -> Q:
    """The rows after the row with ``values`` in the order of ``keys``: (k1 after v1) or (k1 = v1 and k2 after v2)
    or ..., with k1's range in front where it holds, so an index on k1 bounds the scan."""
    alternatives = Q(pk__in=[])
    for position, (key, value) in enumerate(zip(keys, values, strict=True)):
        later = key.after(value)
        if later is not None:
            equal_before = Q()
            for earlier, earlier_value in zip(keys[:position], values[:position], strict=True):
                equal_before &= earlier.equal(earlier_value)
            alternatives |= equal_before & later
    first, first_value = keys[0], values[0]
    # Descending, NULLs come first: what follows a value is never null, nullable key or not.
    if first_value is not None and (first.descending or not first.nullable):
        return first.from_on(first_value) & alternatives
    return alternatives


def _plain(value: Any) -> Any:
    """A key's value as JSON; the database reads the strings back through the field (ISO dates, UUIDs, decimals)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class Cursor:
    ordering: list[str]
    values: list[Any]
    backwards: bool  # the page before the row, not after it

    def encode(self) -> str:
        return signing.dumps({"o": self.ordering, "v": self.values, "b": self.backwards}, salt=_CURSOR_SALT, compress=True)

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            payload = signing.loads(token, salt=_CURSOR_SALT)
            return cls(list(payload["o"]), list(payload["v"]), bool(payload["b"]))
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None


# ``read(walk, after, limit)``: at most ``limit`` rows in the order of the keys ``walk``, those after the row whose
# key values are ``after`` (empty: from the first).
PageReader = Callable[[list[OrderingKey], list[Any], int], list[Any]]


def keyset_rows(queryset: QuerySet[Any], walk: list[OrderingKey], after: list[Any]) -> QuerySet[Any]:
    """``queryset`` in the order of ``walk``, from the row after the one whose key values are ``after``."""
    page_rows = queryset.order_by(*(key.term for key in walk))
    return page_rows.filter(keyset_after(walk, after)) if after else page_rows


def _queryset_page(queryset: QuerySet[Any], walk: list[OrderingKey], after: list[Any], limit: int) -> list[Any]:
    return list(keyset_rows(queryset, walk, after)[:limit])


# --- The pagination class -----------------------------------------------------------------------------------------
class Pagination(BasePagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    page_query_param = "page"
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        self.size = self._page_size(request)
        token = request.query_params.get(self.cursor_query_param)
        if token is not None and isinstance(queryset, QuerySet):
            rows, rows_before, last = self._keyset_page(ordering_keys(queryset), token, partial(_queryset_page, queryset))
        else:
            rows, rows_before, last = self._numbered_page(queryset, request.query_params.get(self.page_query_param, "1"))
        # A view may count its list its own way (it knows a cheaper statement for the same number).
        counter: Callable[[Any], tuple[int, bool]] = getattr(view, "count_rows", count_rows)
        self._count(rows, rows_before, last, lambda: counter(queryset))
        return rows

    def paginate_keyset(
        self, request: Request, keys: list[OrderingKey], read: PageReader, count: Callable[[], tuple[int, bool]]
    ) -> list[Any]:
        """A keyset page (an empty or absent ``?cursor=`` starts) of a list its view reads its own way, as
        :meth:`paginate_queryset` pages a queryset ordered by ``keys``: ``read`` gives the page's rows, ``count``
        counts the list where the page does not."""
        self.request = request
        self.size = self._page_size(request)
        rows, rows_before, last = self._keyset_page(keys, request.query_params.get(self.cursor_query_param) or "", read)
        self._count(rows, rows_before, last, count)
        return rows

    def _count(
        self, rows: list[Any], rows_before: int | None, last: bool, count: Callable[[], tuple[int, bool]]
    ) -> None:
        if last and rows_before is not None:
            # The list's last page, and how many rows come before it: that is the count, with no statement.
            self.count, self.count_is_estimate = rows_before + len(rows), False
        else:
            self.count, self.count_is_estimate = count()

    def _page_size(self, request: Request) -> int:
        try:
            return _positive_int(request.query_params[self.page_size_query_param], strict=True, cutoff=self.max_page_size)
        except (KeyError, ValueError):
            return self.page_size

    def _numbered_page(self, queryset: Any, number: str) -> tuple[list[Any], int, bool]:
        """The page's rows, the number of rows before it and whether it is the last."""
        try:
            page = _positive_int(number, strict=True)
        except ValueError:
            page = 0
        if not 1 <= page <= MAX_PAGE:
            raise NotFound("Invalid page.")
        offset = (page - 1) * self.size
        rows = list(queryset[offset : offset + self.size + 1])
        if page > 1 and not rows:
            raise NotFound("Invalid page.")
        url = remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)
        self.next = replace_query_param(url, self.page_query_param, page + 1) if len(rows) > self.size else None
        if page == 1:
            self.previous = None
        elif page == 2:
            self.previous = remove_query_param(url, self.page_query_param)
        else:
            self.previous = replace_query_param(url, self.page_query_param, page - 1)
        return rows[: self.size], offset, len(rows) <= self.size

    def _keyset_page(self, keys: list[OrderingKey], token: str, read: PageReader) -> tuple[list[Any], int | None, bool]:
        """The page's rows, the number of rows before it (known for the first page only) and whether it is the
        last in the direction walked."""
        ordering = [key.term for key in keys]
        cursor = Cursor.decode(token) if token else Cursor(ordering, [], backwards=False)
        if cursor.ordering != ordering or len(cursor.values) not in (0, len(keys)):
            raise ValidationError({"cursor": ["The cursor belongs to another ordering of this list."]})
        walk = [key.flipped() for key in keys] if cursor.backwards else keys
        rows = read(walk, cursor.values, self.size + 1)
        more = len(rows) > self.size
        rows = rows[: self.size]
        if cursor.backwards:
            rows.reverse()

        def link(row: Model, backwards: bool) -> str:
            # Built only for a link given: a queue that fits its first page has none.
            url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
            values = [_plain(key.value(row)) for key in keys]
            return replace_query_param(url, self.cursor_query_param, Cursor(ordering, values, backwards).encode())

        has_next = more if not cursor.backwards else bool(cursor.values)
        has_previous = more if cursor.backwards else bool(cursor.values)
        self.next = link(rows[-1], False) if rows and has_next else None
        self.previous = link(rows[0], True) if rows and has_previous else None
        first_page = not cursor.values and not cursor.backwards
        return rows, 0 if first_page else None, not more

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "count": self.count,
                "count_is_estimate": self.count_is_estimate,
                "next": self.next,
                "previous": self.previous,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["count", "count_is_estimate", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "example": 123,
                    "description": f"Exact below {EXACT_COUNT_LIMIT:,}; above, possibly the planner's estimate.",
                },
                "count_is_estimate": {"type": "boolean", "description": "True when count is an estimate."},
                "next": {**link, "example": "http://api.example.org/accounts/?page=4"},
                "previous": {**link, "example": "http://api.example.org/accounts/?page=2"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "A page number (offset paging).",
                "schema": {"type": "integer"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}, at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Keyset paging, for deep pages: empty for the first page, then the cursor of a next or "
                    "previous link. Takes precedence over page."
                ),
                "schema": {"type": "string"},
            },
        ]
