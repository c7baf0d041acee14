"""Celery tasks of the collection side: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from annotate.services.assignment import assignments_reclaim_expired

RECLAIM_BATCH = 500


@shared_task(name="annotate.tasks.reclaim_expired_leases", ignore_result=True)
def reclaim_expired_leases() -> int:
    """Give back the slots of every lease past its expiry (beat runs this every minute).

    Idempotent: each lease is reclaimed by a conditional update, so a
    redelivered or overlapping run reclaims nothing twice.
    """
    total = 0
    while True:
        reclaimed = assignments_reclaim_expired(limit=RECLAIM_BATCH)
        total += reclaimed
        if reclaimed < RECLAIM_BATCH:
            return total
