"""Celery's side of webhooks: the delivery task and queueing deliveries.

``deliver_webhook`` makes one attempt (``delivery.webhook_attempt``) and, when
that asks for another, retries itself after the backoff delay. It is
idempotent (a delivery that is no longer pending is left alone), so
``acks_late`` is safe. ``webhooks_flush_annotations`` (the batched
``annotation.created``) lives in ``curation.webhooks.events``.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from curation.webhooks.delivery import webhook_attempt


@shared_task(name="curation.webhooks.deliver", bind=True, acks_late=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> None:
    delay = webhook_attempt(delivery_id=delivery_id)
    if delay is not None:
        raise self.retry(countdown=delay)


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Send each delivery to a worker once the current transaction commits."""
    for delivery_id in delivery_ids:
        transaction.on_commit(lambda pk=delivery_id: deliver_webhook.delay(pk))
