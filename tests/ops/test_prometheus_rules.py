"""The alert rules and the dashboard operators load as they are: valid, tested, and about metrics /metrics serves."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tts_common.base import metrics

OPS = Path(__file__).resolve().parents[2] / "ops"
RULES = OPS / "prometheus" / "alerts.yml"
DASHBOARD = OPS / "grafana" / "tts-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # No skip: scripts/test installs promtool (Debian's prometheus package).
    return subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True, timeout=60)


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_alert_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", OPS / "prometheus" / "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_threshold_of_the_issue_has_an_alert() -> None:
    rules = {rule["alert"]: rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    assert {"TTSHighErrorRate", "TTSHighLatencyP95", "TTSQueueBacklog", "TTSCircuitOpen", "TTSDeadLetters"} <= set(rules)
    assert 'tts_dead_letters{status="pending"}' in rules["TTSDeadLettersPending"]["expr"]
    assert "> 0.05" in rules["TTSHighErrorRate"]["expr"]
    assert "> 2" in rules["TTSHighLatencyP95"]["expr"]
    assert "> 1000" in rules["TTSQueueBacklog"]["expr"]
    assert rules["TTSCircuitOpen"]["for"] == "5m"
    # Issue 16's business alerts: an open task long past its SLA, breaches over a share of the incoming tasks.
    assert "tts_most_overdue_open_task_seconds" in rules["TTSOpenTaskFarPastSla"]["expr"]
    assert "> 0.2" in rules["TTSHighSlaBreachRate"]["expr"]


def test_dashboard_has_the_panels_of_the_alerts(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {
        "Request rate by route", "HTTP error rate (5xx)", "p95 latency by route", "Queue depth",
        "Consumers per queue", "Consumer lag (time to drain the backlog)", "Dead letters",
        "Tasks created and assigned", "Circuit breakers open", "Failed email deliveries",
        "Open tasks by role", "Oldest open task and most overdue", "SLA breaches and warnings",
    } <= titles  # fmt: skip
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    # Every query is valid PromQL: promtool checks it as a recording rule (Grafana's interval variable aside).
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel{i}", "expr": expr.replace("$__rate_interval", "5m")}
                    for i, expr in enumerate(dashboard_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_alerts_and_dashboard_use_only_metrics_that_exist() -> None:
    exposed: set[str] = set()
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        exposed |= {family.name, *(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))}
    rules = [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    used = {name for expr in (*rules, *dashboard_exprs()) for name in re.findall(r"\btts_[a-z_]+", expr)}
    assert used <= exposed, used - exposed
