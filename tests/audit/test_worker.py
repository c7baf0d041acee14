"""The audit job end to end: PostgreSQL, Redis and a real Celery worker."""

from __future__ import annotations

import pytest

from curation.audit.pipeline import STAGES
from curation.audit.services import audit_create
from curation.models import Audit, Job
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
    for person, row in zip(people, rows, strict=True):
        for item, choice in zip(items, row, strict=True):
            if choice:
                annotate(item, person, choice)
    curator = UserFactory(username="curator-w")
    job = audit_create(project=project, user=curator, params={"n_boot": 100})
    assert job.queue == "light"

    def ended():
        job.refresh_from_db()
        return job.ended

    live_worker.wait_for(ended, timeout=120, what="the audit job to end")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress_done == job.progress_total == len(STAGES) == 9  # principle ambiguity is the 9th
    assert job.created_by == curator and "audit" in job.log_tail
    audit = Audit.objects.get(project=project)
    assert audit.job == job and job.result["audit"] == audit.pk
    assert audit.summary["alpha"]["pairwise"]["alpha"] == pytest.approx(1 / 3)
    assert audit.summary["job"] == str(job.uuid)
    assert audit.items.count() == 4 and audit.annotators.count() == 3
    assert sorted(audit.items.values_list("consensus__choice", flat=True)) == ["A", "A", "B", "B"]
