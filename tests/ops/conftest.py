"""Fixtures of the operations tests: a service API key and a shared Prometheus multiprocess folder for every process
the test starts, and reading /metrics."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.core.cache import cache
from prometheus_client.parser import text_string_to_metric_families

SERVICE_KEY = "test-service-key"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def ops_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Set before the server and worker fixtures copy the environment (autouse fixtures are set up first); the
    metrics cache is shared through Redis with earlier tests, so it starts empty."""
    multiproc_dir = tmp_path / "prometheus"
    monkeypatch.setenv("SERVICE_API_KEY", SERVICE_KEY)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
    cache.delete_many(
        [f"metrics:{source}" for source in ("broker", "outbox", "workflow_api", "business", "notification_service")]
    )
    return multiproc_dir


def parse_samples(text: str) -> Samples:
    """``{(sample name, labels): value}`` of a Prometheus text exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape(base_url: str) -> Samples:
    response = requests.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {SERVICE_KEY}"}, timeout=10)
    assert response.status_code == 200, response.text
    return parse_samples(response.text)


