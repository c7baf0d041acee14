"""Rows the API tests read: audits and datasets, built directly (the audit
and export runners have their own tests)."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings

from annotate.models import Annotator
from curation.exports import export_run
from curation.models import AnnotatorAudit, Audit, Dataset, ItemAudit, Job
from tests.exports.builders import pairwise, prompt
from tests.factories import AnnotatorFactory, UserFactory, make_item


def make_audit(project, *, job_status: str | None = None) -> Audit:
    """An audit of three pairwise items and a thumb item, a person and a judge.

    Item disagreement 0.5 / 0.0 / None / 0.25 and ln CHES 1.5 / None / -0.5 / None.
    """
    job = None
    if job_status is not None:
        job = Job.objects.create(project=project, kind="audit", status=job_status)
    audit = Audit.objects.create(
        project=project, job=job, summary={"version": 1, "alpha": {"pairwise": {"alpha": 0.4}}}
    )
    rows = [
        ("pairwise", 0.5, 1.5, ["low_agreement"]),
        ("pairwise", 0.0, None, []),
        ("pairwise", None, -0.5, ["no_consensus", "low_agreement"]),
        ("thumb", 0.25, None, []),
    ]
    for kind, disagreement, ln_ches, flags in rows:
        item = make_item(project, kind=kind)
        first = item.links.order_by("position").first().response
        ItemAudit.objects.create(
            audit=audit,
            item=item,
            n_judgments=2,
            disagreement=disagreement,
            majority_share=None if disagreement is None else 1 - disagreement,
            ln_ches=ln_ches,
            chosen=first if kind == "pairwise" else None,
            flags=flags,
        )
    person = AnnotatorFactory(type=Annotator.Type.HUMAN, user=UserFactory(), name="Alice Example")
    judge, _ = Annotator.objects.get_or_create(type=Annotator.Type.MODEL, name="judge-1", model_name="tiny-judge")
    AnnotatorAudit.objects.create(audit=audit, annotator=person, n_annotations=4, agreement=0.75, outlier=True)
    AnnotatorAudit.objects.create(audit=audit, annotator=judge, n_annotations=4, agreement=1.0)
    return audit


def make_dataset(project, *, name: str = "demo") -> Dataset:
    """A real DPO export of two items written under ``DOCKET_EXPORT_DIR/<uuid>/``
    (JSONL and Parquet, card, manifest) and its Dataset row."""
    dataset_id = uuid.uuid4()
    out = Path(settings.DOCKET_EXPORT_DIR) / str(dataset_id)
    p1, p2 = prompt("p1", "What is DNS?"), prompt("p2", "Say hi.")
    result = export_run(
        iter([pairwise("i1", p1, "A resolver.", "No idea.", ["A", "A"]), pairwise("i2", p2, "Hi!", "Go.", ["A"])]),
        fmt="dpo",
        out_dir=out,
        project=project.slug,
    )
    files = [
        {"name": f.path, "split": f.split, "format": f.file_type, "rows": f.rows, "sha256": f.sha256, "bytes": f.bytes}
        for f in result.files
    ]
    return Dataset.objects.create(
        uuid=dataset_id,
        project=project,
        name=name,
        format="dpo",
        filters=result.manifest["filters"],
        path=str(dataset_id),
        files=files,
        row_count=result.rows_total,
        manifest=result.manifest,
        sha256="0" * 64,
    )
