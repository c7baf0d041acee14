"""Writes of webhooks: create, change, delete a hook; redeliver a delivery.

The page and the REST API call these; every check (the URL's host, the
event names) is here and raises ``ValidationError`` naming the field.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError

from curation.models import Webhook, WebhookDelivery, WebhookEventType
from curation.webhooks.events import subscribers_forget
from curation.webhooks.tasks import deliveries_enqueue
from curation.webhooks.urlcheck import webhook_url_check

EVENT_TYPES = tuple(WebhookEventType.values)
DESCRIPTION_MAX = 200
URL_MAX = 2000


def _events_clean(events) -> list[str]:
    if isinstance(events, str):
        events = [e.strip() for e in events.split(",") if e.strip()]
    if not isinstance(events, list | tuple) or not all(isinstance(e, str) for e in events):
        raise ValidationError({"events": "events must be a list of event names"})
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError({"events": f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"})
    if not events:
        raise ValidationError({"events": "choose at least one event"})
    return [e for e in EVENT_TYPES if e in set(events)]


def _url_clean(url) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationError({"url": "give the URL to POST events to"})
    url = url.strip()
    if len(url) > URL_MAX:
        raise ValidationError({"url": f"the URL must be at most {URL_MAX} characters"})
    webhook_url_check(url)
    return url


def _description_clean(description) -> str:
    description = (description or "").strip() if isinstance(description, str | None) else None
    if description is None or len(description) > DESCRIPTION_MAX:
        raise ValidationError({"description": f"a text of at most {DESCRIPTION_MAX} characters"})
    return description


def webhook_secret_new() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def webhook_create(*, project, user, url: str, events, description: str = "") -> Webhook:
    """A new active hook with a fresh signing secret."""
    hook = Webhook(
        project=project,
        url=_url_clean(url),
        events=_events_clean(events),
        description=_description_clean(description),
        secret=webhook_secret_new(),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    hook.save()
    subscribers_forget(project.pk)
    return hook


def webhook_update(
    *,
    webhook: Webhook,
    url=None,
    events=None,
    description=None,
    active: bool | None = None,
    rotate_secret: bool = False,
) -> Webhook:
    """Change what is given; switching a hook back on clears its failure count."""
    if url is not None:
        webhook.url = _url_clean(url)
    if events is not None:
        webhook.events = _events_clean(events)
    if description is not None:
        webhook.description = _description_clean(description)
    if active is not None:
        if active and not webhook.active:
            webhook.consecutive_failures = 0
            webhook.disabled_reason = ""
        webhook.active = bool(active)
    if rotate_secret:
        webhook.secret = webhook_secret_new()
    webhook.save()
    subscribers_forget(webhook.project_id)
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    project_id = webhook.project_id
    webhook.delete()
    subscribers_forget(project_id)


def webhook_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same event (same id, same body) to the hook again, as a new delivery in the log."""
    if not delivery.webhook.active:
        raise ValidationError({"webhook": "The webhook is switched off; switch it on to redeliver."})
    again = WebhookDelivery.objects.create(webhook=delivery.webhook, event=delivery.event, redelivery_of=delivery)
    deliveries_enqueue([again.pk])
    return again
