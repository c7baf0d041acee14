"""One delivery attempt: the body, its signature, the POST, and what its outcome changes.

:func:`webhook_attempt` is what the Celery task calls; it returns the seconds
to wait before the next attempt, or ``None`` when the delivery is over
(delivered, failed for good, or nothing left to do). Backoff: the n-th retry
waits ``DOCKET_WEBHOOK_RETRY_SECONDS * 2**(n-1)``; after
``DOCKET_WEBHOOK_MAX_ATTEMPTS`` attempts the delivery has failed, and after
``DOCKET_WEBHOOK_DISABLE_AFTER`` failed deliveries in a row the hook is
switched off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from curation.models import Webhook, WebhookDelivery, WebhookEvent
from curation.webhooks.urlcheck import webhook_url_check

SIGNATURE_HEADER = "Docket-Signature"
RESPONSE_KEPT = 1000  # characters of the receiver's answer kept in the log
USER_AGENT = "Docket-Webhooks/1"


def event_body(event: WebhookEvent) -> bytes:
    """The JSON body every delivery of ``event`` sends (the same bytes each time)."""
    document = {
        "id": str(event.uuid),
        "type": event.type,
        "created_at": event.created_at.isoformat(timespec="seconds"),
        "project": event.project.slug,
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``b"<timestamp>." + body`` with the hook's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def headers_for(delivery: WebhookDelivery, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Docket-Event": delivery.event.type,
        "Docket-Event-Id": str(delivery.event.uuid),
        "Docket-Delivery": str(delivery.uuid),
        "Docket-Timestamp": str(timestamp),
        SIGNATURE_HEADER: sign(delivery.webhook.secret, timestamp, body),
    }


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (1, 2, 4, … times the base)."""
    return float(settings.DOCKET_WEBHOOK_RETRY_SECONDS) * 2 ** max(0, attempts - 1)


def webhook_attempt(*, delivery_id: int) -> float | None:
    """Try to deliver once; returns the delay before retrying, or ``None`` when done (module docstring)."""
    delivery = (
        WebhookDelivery.objects.select_related("webhook", "event", "event__project").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None  # delivered or given up already (a task delivered twice)
    hook = delivery.webhook
    if not hook.active:
        _finish(delivery, ok=False, error="the webhook is disabled", count_failure=False)
        return None
    body = event_body(delivery.event)
    started = time.monotonic()
    status, text, error = None, "", ""
    try:
        webhook_url_check(hook.url)
        response = requests.post(
            hook.url,
            data=body,
            headers=headers_for(delivery, body),
            timeout=settings.DOCKET_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status, text = response.status_code, response.text[:RESPONSE_KEPT]
    except ValidationError as exc:  # the URL points somewhere it may not go (any more)
        error = "; ".join(exc.message_dict.get("url", exc.messages))
        _record(delivery, status=None, text="", error=error, started=started)
        _finish(delivery, ok=False, error=error)
        return None
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    _record(delivery, status=status, text=text, error=error, started=started)
    if status is not None and 200 <= status < 300:
        _finish(delivery, ok=True)
        return None
    if delivery.attempts >= settings.DOCKET_WEBHOOK_MAX_ATTEMPTS:
        _finish(delivery, ok=False, error=error or f"HTTP {status}")
        return None
    delay = retry_delay(delivery.attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=delay))
    return delay


def _record(delivery: WebhookDelivery, *, status, text: str, error: str, started: float) -> None:
    delivery.attempts += 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=F("attempts") + 1,
        response_status=status,
        response_body=text,
        error=error[:500],
        duration_ms=int((time.monotonic() - started) * 1000),
        last_attempt_at=timezone.now(),
    )


def _finish(delivery: WebhookDelivery, *, ok: bool, error: str = "", count_failure: bool = True) -> None:
    """End the delivery; a success resets the hook's failure count, a failure adds one (and may switch it off)."""
    with transaction.atomic():
        ended = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.SUCCEEDED if ok else WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            **({} if ok else {"error": error[:500]}),
        )
        if not ended:
            return
        hooks = Webhook.objects.filter(pk=delivery.webhook_id)
        if ok:
            hooks.update(consecutive_failures=0)
        elif count_failure:
            hooks.update(consecutive_failures=F("consecutive_failures") + 1)
            limit = settings.DOCKET_WEBHOOK_DISABLE_AFTER
            hooks.filter(active=True, consecutive_failures__gte=limit).update(
                active=False,
                disabled_reason=f"Switched off after {limit} failed deliveries in a row (last: {error})"[:300],
            )
