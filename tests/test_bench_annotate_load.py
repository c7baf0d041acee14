"""bench/annotate_load.py's stand-in for autovacuum (issue 15, point 6): where the server runs with autovacuum
off, the bench analyzes the loop's tables at autovacuum's cadence and by its rule, never more often.

The rule (PostgreSQL's ``relation_needs_vacanalyze``): a table is analyzed once more than
``autovacuum_analyze_threshold + autovacuum_analyze_scale_factor * reltuples`` rows changed since its last
analyze. Hand-worked with the defaults (50, 0.1): a table analyzed with one row (reltuples 1) is due after 51
changed rows, not 50; analyzed again with 52 rows, after 56, not 55.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.db import connection

from annotate.models import Item
from tests.factories import make_item

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.annotate_load import Autoanalyze  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


def _sql(statement: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def _add_items(project, template: Item, n: int) -> None:
    start = Item.objects.count()
    Item.objects.bulk_create(
        Item(project=project, kind=template.kind, prompt=template.prompt, content_hash=f"bench-{start + i}")
        for i in range(n)
    )
    _flush()


def _flush() -> None:
    """This backend's pending counts into pg_stat now (else within a second), and a fresh snapshot of them."""
    _sql("SELECT pg_stat_force_next_flush()")
    _sql("SELECT 1")
    _sql("SELECT pg_stat_clear_snapshot()")


def _due(bench: Autoanalyze) -> list[str]:
    with connection.cursor() as cursor:
        due = bench.due(cursor)
    changed = _sql("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'annotate_item'")
    print("due", due, "annotate_item changed since its analyze", changed)
    return due


def test_it_reads_the_servers_autovacuum_settings():
    bench = Autoanalyze()
    shown = {
        name: float(_sql("SELECT setting FROM pg_settings WHERE name = %s", [name])[0][0])
        for name in ("autovacuum_naptime", "autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor")
    }
    assert (bench.naptime, bench.threshold, bench.scale_factor) == (
        shown["autovacuum_naptime"],
        shown["autovacuum_analyze_threshold"],
        shown["autovacuum_analyze_scale_factor"],
    )


def test_a_table_is_due_by_autovacuums_rule_and_not_before(project):
    bench = Autoanalyze()
    bench.threshold, bench.scale_factor = 50.0, 0.1  # PostgreSQL's defaults, whatever this server sets
    template = make_item(project, kind="thumb")
    _flush()
    # The loop's tables analyzed now: nothing changed since; annotate_item counted with its one row (reltuples 1),
    # so due after more than 50 + 0.1 x 1 = 50.1 changes.
    _sql("VACUUM (ANALYZE) annotate_item, annotate_assignment, annotate_annotation, annotate_principleverdict")
    _sql("SELECT pg_stat_clear_snapshot()")
    assert _due(bench) == []

    _add_items(project, template, 50)
    assert "annotate_item" not in _due(bench)  # 50 changed rows: not more than 50.1
    _add_items(project, template, 1)
    assert "annotate_item" in _due(bench)  # 51

    _sql("VACUUM (ANALYZE) annotate_item")  # 52 rows counted: due after more than 50 + 5.2 = 55.2 changes
    _sql("SELECT pg_stat_clear_snapshot()")
    assert "annotate_item" not in _due(bench)
    _add_items(project, template, 55)
    assert "annotate_item" not in _due(bench)
    _add_items(project, template, 1)
    assert "annotate_item" in _due(bench)
