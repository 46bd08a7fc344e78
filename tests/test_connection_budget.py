"""runall refuses a layout whose connections could exceed what PostgreSQL admits, before starting anything."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tts_common.base.database import check_connection_budget


def test_the_default_layout_fits_and_is_counted(db):
    assert check_connection_budget(worker_processes=10) == 8 + 10  # one web process's pool, ten worker processes


def test_runall_refuses_more_web_processes_than_connections(db, settings):
    settings.WEB_WORKERS = 50  # x 8 connections: past PostgreSQL's default 100
    with pytest.raises(CommandError, match=r"50 web process\(es\) x DB_POOL_MAX_SIZE 8 .* max_connections"):
        call_command("runall")
