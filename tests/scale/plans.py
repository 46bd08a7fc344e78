"""What the database does for a request: the SQL an endpoint runs, captured with its parameters, and EXPLAIN of each
statement, searched for sequential scans of large tables."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tts_common.base.database import WEB_PLAN_CACHE_MODE

LARGE_TABLE_ROWS = 10_000  # a table with more rows than this is never read whole on a request's path


@dataclass(frozen=True)
class Statement:
    request: str
    sql: str
    plan: dict[str, Any]

    def seq_scans(self, large_tables: set[str]) -> list[str]:
        return [node["Relation Name"] for node in plan_nodes(self.plan) if _is_seq_scan(node, large_tables)]


def _is_seq_scan(node: dict[str, Any], large_tables: set[str]) -> bool:
    return node["Node Type"] in ("Seq Scan", "Parallel Seq Scan") and node.get("Relation Name") in large_tables


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def large_tables() -> set[str]:
    """Tables with more than LARGE_TABLE_ROWS rows, as the statistics (ANALYZE) have them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > %s", [LARGE_TABLE_ROWS])
        return {name for (name,) in cursor.fetchall()}


def explain(sql: str, *, analyze: bool = False) -> dict[str, Any]:
    """The plan of ``sql``; with ``analyze``, run, with each node's actual rows and loops."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON{', ANALYZE' if analyze else ''}) {sql}")
        (document,) = cursor.fetchone()
    return _top_plan(document)


def statements_of(client: Any, path: str) -> list[Statement]:
    """GET ``path`` (asserting a 200) and EXPLAIN every query it ran, with the parameters it ran with."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    reads = [query["sql"] for query in captured.captured_queries if query["sql"].lstrip().upper().startswith("SELECT")]
    return [Statement(path, sql, explain(sql)) for sql in reads]


def web_plan(sql: str, values: list[Any]) -> dict[str, Any]:
    """The plan a web connection runs ``sql`` (a compiled statement: ``%s`` its slots) with, for ``values`` (its
    prepared statement's one plan: WEB_PLAN_CACHE_MODE), run, with each node's actual rows and loops."""
    numbers = iter(range(1, len(values) + 1))
    prepared = re.sub("%%|%s", lambda found: "%" if found[0] == "%%" else f"${next(numbers)}", sql)
    with connection.cursor() as cursor:
        cursor.execute(f"SET plan_cache_mode = {WEB_PLAN_CACHE_MODE}")
        cursor.execute(f"PREPARE web_plan AS {prepared}")
        try:
            arguments = ", ".join(["%s"] * len(values))
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE web_plan({arguments})", values)
            (document,) = cursor.fetchone()
        finally:
            cursor.execute("DEALLOCATE web_plan")
            cursor.execute("RESET plan_cache_mode")
    return _top_plan(document)


def _top_plan(document: Any) -> dict[str, Any]:
    """The top plan node of an ``EXPLAIN (FORMAT JSON)`` answer (text, or already decoded by the driver)."""
    return (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
