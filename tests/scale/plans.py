"""What the database does for a request: the SQL an endpoint runs, captured with its parameters, and EXPLAIN of each
statement, searched for sequential scans of large tables."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

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
    return (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]


def statements_of(client: Any, path: str) -> list[Statement]:
    """GET ``path`` (asserting a 200) and EXPLAIN every query it ran, with the parameters it ran with."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    reads = [query["sql"] for query in captured.captured_queries if query["sql"].lstrip().upper().startswith("SELECT")]
    return [Statement(path, sql, explain(sql)) for sql in reads]
