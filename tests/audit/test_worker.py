"""The audit job end to end: PostgreSQL, Redis and a real Celery worker."""

from __future__ import annotations

import pytest

from annotate.models import Answer
from curation.audit.pipeline import STAGES
from curation.audit.services import audit_create
from curation.metrics import multilabel_alpha
from curation.models import Audit, Job
from curation.projects.questions import question_add
from tests.audit.helpers import annotate, human
from tests.factories import ProjectFactory, UserFactory, make_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_audit_job_runs_on_a_real_worker(live_worker):
    project = ProjectFactory()
    people = [human(f"w{i}") for i in range(3)]
    items = [make_item(project, "pairwise") for _ in range(4)]
    rows = [
        ["A", "A", "B", "A"],
        ["A", "B", "B", "B"],
        ["A", "A", None, "B"],
    ]  # α = 1/3 (docs/algorithms.md#krippendorff-alpha)
    curator = UserFactory(username="curator-w")
    # A multi-label question answered beside each choice (docs/algorithms.md#multi-label-alpha).
    hazard = question_add(project=project, user=curator, spec={"key": "hazard", "type": "multi_label",
                          "label": "Hazards", "options": ["violence", "hate"]})  # fmt: skip
    labels = {"A": ["violence"], "B": []}
    sets = [[None if c is None else frozenset(labels[c]) for c in row] for row in rows]
    for person, row in zip(people, rows, strict=True):
        for item, choice in zip(items, row, strict=True):
            if choice:
                annotation = annotate(item, person, choice)
                Answer.objects.create(annotation=annotation, question=hazard, version=hazard.current,
                                      type="multi_label", labels=labels[choice])  # fmt: skip
    job = audit_create(project=project, user=curator, params={"n_boot": 100})
    assert job.queue == "light"

    def ended():
        job.refresh_from_db()
        return job.ended

    live_worker.wait_for(ended, timeout=120, what="the audit job to end")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress_done == job.progress_total == len(STAGES) == 10  # custom questions is the 9th
    assert job.created_by == curator and "audit" in job.log_tail
    audit = Audit.objects.get(project=project)
    assert audit.job == job and job.result["audit"] == audit.pk
    assert audit.summary["alpha"]["pairwise"]["alpha"] == pytest.approx(1 / 3)
    assert audit.summary["job"] == str(job.uuid)
    assert audit.items.count() == 4 and audit.annotators.count() == 3
    assert sorted(audit.items.values_list("consensus__choice", flat=True)) == ["A", "A", "B", "B"]
    (entry,) = audit.summary["questions"]["entries"]
    assert entry["key"] == "hazard" and entry["alpha"]["alpha"] == pytest.approx(multilabel_alpha(sets, "masi"))
    assert entry["alpha"]["alpha"] == pytest.approx(1 / 3)  # one label per choice: the nominal α of the choices
    assert 90 <= entry["alpha"]["n_ok"] <= 100 and entry["alpha"]["low"] <= 1 / 3 <= entry["alpha"]["high"]
