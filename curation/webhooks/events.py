"""Emitting webhook events: :func:`webhook_emit` and the emitters that call it.

``webhook_emit`` writes one ``WebhookEvent`` and one pending
``WebhookDelivery`` per active hook of the project subscribed to its type,
and queues the deliveries on commit; a project without such a hook costs one
query and writes nothing. Callers:

* :func:`job_ended` — ``curation.jobs.lifecycle``, wherever a job ends
  (succeeded, failed, cancelled): ``job.finished`` for every job, plus
  ``export.succeeded`` / ``export.failed`` for exports and
  ``audit.finished`` for a succeeded audit;
* :func:`annotations_created` — ``annotate.services.annotations`` when
  annotations are stored: on commit their ids go into a Redis list per
  project, and the first one of a batch schedules
  :func:`webhooks_flush_annotations` ``DOCKET_WEBHOOK_BATCH_SECONDS`` later,
  which sends one ``annotation.created`` with the batch and one
  ``item.completed`` per item of it that is now done (once per item and
  judgment count, so a re-opened item that completes again is announced
  again).

For annotations, whether a project has subscribers is memoised per process
for ``DOCKET_WEBHOOK_SUBSCRIBERS_TTL`` seconds (the annotate loop asks on
every submission), so a new hook hears of annotations made in other
processes after at most that long; saving a hook clears this process's
memo. A job's end always asks the database.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse

from annotate.models import Annotation, Item
from curation.models import Dataset, Job, JobKind, Webhook, WebhookDelivery, WebhookEvent, WebhookEventType
from curation.webhooks.tasks import deliveries_enqueue

logger = logging.getLogger(__name__)

ANNOTATION_EVENTS = (WebhookEventType.ANNOTATION_CREATED, WebhookEventType.ITEM_COMPLETED)
BATCH_MAX = 1000  # annotations per annotation.created event
_memo: dict[int, tuple[float, frozenset[str]]] = {}


def subscribed_types(project_id: int, *, fresh: bool = False) -> frozenset[str]:
    """The event types some active hook of the project receives (memoised briefly unless ``fresh``)."""
    now = time.monotonic()
    hit = _memo.get(project_id)
    if hit is not None and hit[0] > now and not fresh:
        return hit[1]
    types: set[str] = set()
    for events in Webhook.objects.filter(project_id=project_id, active=True).values_list("events", flat=True):
        types.update(events or [])
    found = frozenset(types)
    _memo[project_id] = (now + settings.DOCKET_WEBHOOK_SUBSCRIBERS_TTL, found)
    return found


def subscribers_forget(project_id: int | None = None) -> None:
    if project_id is None:
        _memo.clear()
    else:
        _memo.pop(project_id, None)


def webhook_emit(*, project, type: str, data: dict, dedupe_key: str | None = None) -> WebhookEvent | None:  # noqa: A002
    """Record the event and queue one delivery per subscribed active hook; ``None`` when nobody listens
    (or the event with this ``dedupe_key`` exists already)."""
    hooks = [h.pk for h in Webhook.objects.filter(project=project, active=True) if type in (h.events or [])]
    if not hooks:
        return None
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(project=project, type=type, payload=data, dedupe_key=dedupe_key)
            deliveries = WebhookDelivery.objects.bulk_create(
                [WebhookDelivery(webhook_id=pk, event=event) for pk in hooks]
            )
    except IntegrityError:
        return None  # emitted before (dedupe_key)
    deliveries_enqueue([d.pk for d in deliveries])
    return event


# ---------------------------------------------------------------- jobs


def _job_data(job: Job) -> dict:
    lines = [line for line in (job.error or "").strip().splitlines() if line.strip()]
    return {
        "id": str(job.uuid),
        "kind": job.kind,
        "status": job.status,
        "api_path": reverse("api-job", kwargs={"job_id": job.uuid}),
        "result": job.result or {},
        "error": lines[-1].strip() if lines else "",
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created_at": job.created_at.isoformat(timespec="seconds") if job.created_at else None,
        "finished_at": job.finished_at.isoformat(timespec="seconds") if job.finished_at else None,
    }


def _dataset_data(dataset: Dataset) -> dict:
    return {
        "id": str(dataset.uuid),
        "name": dataset.name,
        "format": dataset.format,
        "row_count": dataset.row_count,
        "sha256": dataset.sha256,
        "files": [{k: f.get(k) for k in ("name", "split", "rows", "bytes", "sha256")} for f in dataset.files],
        "api_path": reverse("api-dataset", kwargs={"dataset_id": dataset.uuid}),
        "archive_path": reverse("api-dataset-archive", kwargs={"dataset_id": dataset.uuid}),
    }


def job_ended(*, job_id: int, project_id: int) -> None:
    """After the transaction that ended the job commits: its events (module docstring).

    Asks the database afresh (jobs end rarely), so a hook added a moment ago hears of it."""
    if not subscribed_types(project_id, fresh=True):
        return
    transaction.on_commit(lambda: _job_events(job_id), robust=True)


def _job_events(job_id: int) -> None:
    job = Job.objects.select_related("project", "created_by").filter(pk=job_id).first()
    if job is None or not job.ended:
        return
    data = {"job": _job_data(job)}
    key = f"{job.uuid}:{job.status}"
    webhook_emit(project=job.project, type=WebhookEventType.JOB_FINISHED, data=data, dedupe_key=key)
    if job.kind == JobKind.EXPORT:
        if job.status == Job.Status.SUCCEEDED:
            dataset = Dataset.objects.filter(job=job).first()
            if dataset is not None:
                data = {**data, "dataset": _dataset_data(dataset)}
            webhook_emit(project=job.project, type=WebhookEventType.EXPORT_SUCCEEDED, data=data, dedupe_key=key)
        elif job.status == Job.Status.FAILED:
            webhook_emit(project=job.project, type=WebhookEventType.EXPORT_FAILED, data=data, dedupe_key=key)
    elif job.kind == JobKind.AUDIT and job.status == Job.Status.SUCCEEDED:
        data = {**data, "audit_api_path": reverse("api-audit", kwargs={"slug": job.project.slug})}
        webhook_emit(project=job.project, type=WebhookEventType.AUDIT_FINISHED, data=data, dedupe_key=key)


# ---------------------------------------------------------------- annotations, batched


def _batch_keys(project_id: int) -> tuple[str, str]:
    return (
        cache.make_and_validate_key(f"webhooks:annotations:{project_id}"),
        f"webhooks:flush-scheduled:{project_id}",
    )


def annotations_created(*, project_id: int, annotation_ids: list[int]) -> None:
    """Note stored annotations for the batched ``annotation.created`` / ``item.completed``, once they
    commit: nothing runs inside the writer's transaction (a submit stays one statement), and
    whether any hook wants them is asked then (memoised, :func:`subscribed_types`)."""
    if annotation_ids:
        transaction.on_commit(lambda: _batch_add(project_id, list(annotation_ids)), robust=True)


def _batch_add(project_id: int, annotation_ids: list[int]) -> None:
    if not set(ANNOTATION_EVENTS) & subscribed_types(project_id):
        return
    listed, flag = _batch_keys(project_id)
    seconds = settings.DOCKET_WEBHOOK_BATCH_SECONDS
    client = cache.redis_client()
    with client.pipeline(transaction=True) as pipe:
        pipe.rpush(listed, *annotation_ids)
        pipe.expire(listed, 24 * 3600)
        pipe.execute()
    if cache.add(flag, 1, timeout=max(60, int(seconds * 10))):
        webhooks_flush_annotations.apply_async((project_id,), countdown=seconds)


def _batch_take(project_id: int) -> list[int]:
    listed, flag = _batch_keys(project_id)
    cache.delete(flag)  # before reading: an id added from now on schedules the next flush
    client = cache.redis_client()
    with client.pipeline(transaction=True) as pipe:
        pipe.lrange(listed, 0, -1)
        pipe.delete(listed)
        values, _deleted = pipe.execute()
    return sorted({int(v) for v in values})


@shared_task(name="curation.webhooks.flush_annotations", acks_late=True)
def webhooks_flush_annotations(project_id: int) -> None:
    """One ``annotation.created`` per ``BATCH_MAX`` annotations noted since the last flush, then the
    ``item.completed`` of their items that are done."""
    ids = _batch_take(project_id)
    if not ids:
        return
    rows = list(
        Annotation.objects.filter(pk__in=ids, item__project_id=project_id)
        .select_related("item", "annotator", "item__project")
        .order_by("pk")
    )
    if not rows:
        return
    project = rows[0].item.project
    for start in range(0, len(rows), BATCH_MAX):
        chunk = rows[start : start + BATCH_MAX]
        data = {
            "count": len(chunk),
            "annotations": [
                {
                    "id": str(a.uuid),
                    "item": str(a.item.uuid),
                    "kind": a.item.kind,
                    "annotator_type": a.annotator.type,
                    "created_at": a.created_at.isoformat(timespec="seconds"),
                }
                for a in chunk
            ],
        }
        webhook_emit(project=project, type=WebhookEventType.ANNOTATION_CREATED, data=data)
    done = (
        Item.objects.filter(pk__in={a.item_id for a in rows}, status=Item.Status.DONE, probe_of__isnull=True)
        .only("uuid", "kind", "annotation_count")
        .order_by("pk")
    )
    for item in done:
        webhook_emit(
            project=project,
            type=WebhookEventType.ITEM_COMPLETED,
            data={
                "item": {
                    "id": str(item.uuid),
                    "kind": item.kind,
                    "annotation_count": item.annotation_count,
                }
            },
            dedupe_key=f"{item.uuid}:{item.annotation_count}",
        )
