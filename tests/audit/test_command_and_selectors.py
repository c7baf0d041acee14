"""``manage.py audit`` and the read helpers in ``curation.audit.selectors``."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from curation.audit import selectors as selectors_audit
from curation.models import Audit, Job
from tests.audit.helpers import annotate, human, run_audit
from tests.factories import ProjectFactory, make_item


@pytest.fixture
def small(project):
    people = [human(f"cmd{i}") for i in range(3)]
    items = [make_item(project, "pairwise") for _ in range(3)]
    for item, choices in zip(items, ["AAA", "AAB", "ABB"], strict=True):
        for person, choice in zip(people, choices, strict=True):
            annotate(item, person, choice, seconds=5)
    return people, items


def test_command_runs_the_audit_here(project, small):
    out = io.StringIO()
    call_command("audit", project.slug, "--quiet", "--n-boot", "20", "--seed", "3", stdout=out)
    audit = Audit.objects.get(project=project)
    assert audit.summary["params"]["n_boot"] == 20 and audit.summary["params"]["seed"] == 3
    assert audit.items.count() == 3 and audit.annotators.count() == 3
    assert f"audit {audit.pk}: 3 item(s), 3 annotator(s)" in out.getvalue()
    assert audit.job.status == "succeeded" and audit.job.created_by is None


def test_command_sync_flag_and_errors(project, small):
    call_command("audit", project.slug, "--sync", "--quiet", "--n-boot", "5", stdout=io.StringIO())
    assert Audit.objects.filter(project=project).count() == 1
    with pytest.raises(CommandError, match="no project"):
        call_command("audit", "no-such-project", stdout=io.StringIO())
    with pytest.raises(CommandError, match="n_boot"):
        call_command("audit", project.slug, "--n-boot", "-3", stdout=io.StringIO())
    assert Job.objects.filter(project=project, kind="audit").count() == 1  # the bad call created no job


def test_command_voters(project, small):
    """docs/algorithms.md#who-votes: people and imported labels by default, judges when asked."""
    from tests.audit.helpers import judge

    people, items = small
    bot = judge("cmd-judge")
    annotate(items[2], bot, "A", consistent=True)  # would turn A B B into a tie
    call_command("audit", project.slug, "--quiet", "--n-boot", "5", stdout=io.StringIO())
    call_command("audit", project.slug, "--quiet", "--n-boot", "5", "--voters", "human,imported,model",
                 stdout=io.StringIO())  # fmt: skip
    default, judged = Audit.objects.filter(project=project).order_by("created_at", "id")
    assert default.summary["params"]["voters"] == ["human", "imported"]
    assert judged.summary["params"]["voters"] == ["human", "imported", "model"]
    assert selectors_audit.audit_item_for(audit=default, item=items[2]).consensus["choice"] == "B"
    assert selectors_audit.audit_item_for(audit=judged, item=items[2]).consensus["choice"] is None
    with pytest.raises(CommandError, match="--voters"):
        call_command("audit", project.slug, "--voters", "humans", stdout=io.StringIO())


def test_command_enqueue_only_queues(project, small, django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False):
        call_command("audit", project.slug, "--enqueue", stdout=out)
    job = Job.objects.get(project=project, kind="audit")
    assert job.status == "queued" and f"queued audit job {job.uuid}" in out.getvalue()
    assert not Audit.objects.exists()


def test_selectors(project, small):
    people, items = small
    assert selectors_audit.audit_latest(project=project) is None
    first = run_audit(project, n_boot=5)
    latest = run_audit(project, n_boot=5)
    assert selectors_audit.audit_latest(project=project) == latest
    assert list(selectors_audit.audits_recent(project=project)) == [latest, first]
    assert selectors_audit.audit_get(project=project, pk=first.pk) == first
    assert selectors_audit.audit_get(project=ProjectFactory(), pk=first.pk) is None
    assert selectors_audit.audit_get(project=project, pk="x") is None
    rows = list(selectors_audit.audit_items(audit=latest))
    assert [r.item_id for r in rows] == [items[1].pk, items[2].pk, items[0].pk]  # most disagreement first
    assert [r.disagreement for r in rows] == [pytest.approx(1 / 3), pytest.approx(1 / 3), 0.0]
    assert selectors_audit.audit_items(audit=latest, kind="thumb").count() == 0
    assert selectors_audit.audit_item_for(audit=latest, item=items[0]).majority_share == 1.0
    annotators = list(selectors_audit.audit_annotators(audit=latest))
    assert len(annotators) == 3
    assert annotators[0].agreement <= annotators[-1].agreement
    assert (
        selectors_audit.audit_annotator_for(audit=latest, annotator=people[1]).agreement == 1.0
    )  # A, A, B = consensus
    assert set(selectors_audit.audit_item_figures(audit=latest, item_ids=[i.pk for i in items])) == {
        i.pk for i in items
    }
    assert selectors_audit.audit_flag_counts(audit=latest)["low_agreement"] == 0
    assert selectors_audit.audit_items_with_ches(audit=latest).count() == 0
    assert selectors_audit.audit_discretion_categories(audit=latest) == {
        "consensus": 0, "conflict": 0, "indifference": 0,
    }  # fmt: skip
    assert selectors_audit.audit_items_flagged(audit=latest).count() == 0
