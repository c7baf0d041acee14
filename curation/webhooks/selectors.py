"""Reads of webhooks for the page and the API (owners and curators; 404 for everyone else)."""

from __future__ import annotations

from django.http import Http404

from annotate.selectors import project_for_curator
from curation.models import Webhook, WebhookDelivery

DELIVERIES_SHOWN = 50


def webhooks_for_project(*, project):
    return Webhook.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")


def webhook_get_for_curator(user, slug: str, webhook_uuid) -> Webhook:
    project = project_for_curator(user, slug)
    hook = Webhook.objects.filter(project=project, uuid=webhook_uuid).select_related("project").first()
    if hook is None:
        raise Http404("No such webhook")
    return hook


def webhook_deliveries(*, webhook: Webhook, limit: int = DELIVERIES_SHOWN):
    """The hook's latest deliveries, newest first, with their events."""
    return (
        WebhookDelivery.objects.filter(webhook=webhook).select_related("event").order_by("-created_at", "-id")[:limit]
    )


def delivery_get(*, webhook: Webhook, delivery_uuid) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.filter(webhook=webhook, uuid=delivery_uuid).select_related("webhook", "event").first()
    )
    if delivery is None:
        raise Http404("No such delivery")
    return delivery
