"""Hand-built projects for the audit tests."""

from __future__ import annotations

from annotate import models
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.models import Audit
from tests.factories import AnnotatorFactory, ResponseFactory, UserFactory


def human(name: str) -> models.Annotator:
    return AnnotatorFactory(user=UserFactory(username=name), name=name)


def judge(name: str) -> models.Annotator:
    return models.Annotator.objects.create(type=models.Annotator.Type.MODEL, name=name, model_name=f"/models/{name}")


def annotate(item, annotator, choice="", *, seconds=None, **fields) -> models.Annotation:
    return models.Annotation.objects.create(
        item=item,
        annotator=annotator,
        kind=item.kind,
        choice=choice,
        time_spent_ms=None if seconds is None else int(seconds * 1000),
        **fields,
    )


def item_with(project, kind: str, responses, **fields) -> models.Item:
    """An item over existing responses (same prompt), in the given position order."""
    item = models.Item.objects.create(
        project=project,
        kind=kind,
        prompt=responses[0].prompt,
        content_hash=models.content_hash([kind, [str(r.uuid) for r in responses], str(fields.get("probe_of"))]),
        **fields,
    )
    models.ItemResponse.objects.bulk_create(
        models.ItemResponse(item=item, response=r, position=i) for i, r in enumerate(responses)
    )
    return item


def responses_for(prompt, n: int) -> list[models.Response]:
    return [ResponseFactory(prompt=prompt, text=f"{prompt.pk} answer {i}") for i in range(n)]


def run_audit(project, **params) -> Audit:
    job = run_job(job_create(project=project, kind="audit", params=params, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    return Audit.objects.get(pk=job.result["audit"])
