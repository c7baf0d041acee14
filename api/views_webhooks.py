"""Webhooks in the REST API (owners and curators of the project; everyone else 404).

``GET/POST projects/<slug>/webhooks/``, ``GET/PATCH/DELETE webhooks/<uuid>/``,
``GET webhooks/<uuid>/deliveries/`` and ``POST
webhooks/<uuid>/deliveries/<uuid>/redeliver/``: thin adapters over
``curation.webhooks`` (services and selectors, the same as the page's).
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import CURATE_ROLES, Project
from curation.models import Webhook, WebhookDelivery, WebhookEventType
from curation.webhooks.selectors import delivery_get, webhook_deliveries, webhooks_for_project
from curation.webhooks.services import webhook_create, webhook_delete, webhook_redeliver, webhook_update

from .views import ERRORS, ErrorSerializer, project_for_api


def webhook_get_for_api(user, webhook_id) -> Webhook:
    curated = Project.objects.filter(memberships__user=user, memberships__role__in=list(CURATE_ROLES))
    hook = Webhook.objects.filter(uuid=webhook_id, project__in=curated).select_related("project").first()
    if hook is None:
        raise NotFound("No such webhook.")
    return hook


class WebhookOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    project = serializers.CharField(source="project.slug")
    url = serializers.URLField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEventType.choices))
    secret = serializers.CharField(help_text="Signs every delivery (HMAC-SHA256); keep it secret.")
    active = serializers.BooleanField()
    consecutive_failures = serializers.IntegerField()
    disabled_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class WebhookDeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    event_id = serializers.UUIDField(source="event.uuid")
    event = serializers.CharField(source="event.type")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField()
    error = serializers.CharField()
    duration_ms = serializers.IntegerField(allow_null=True)
    redelivery_of = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)

    def get_redelivery_of(self, delivery) -> str | None:
        return str(delivery.redelivery_of.uuid) if delivery.redelivery_of_id else None


class WebhookListApi(APIView):
    """A project's webhooks (GET) or a new one (POST: ``url``, ``events``, ``description``).

    The URL must resolve to a public address unless the server sets
    ``DOCKET_WEBHOOK_ALLOW_PRIVATE``; a bad URL or event name is a 400 naming it."""

    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=2000)
        events = serializers.ListField(child=serializers.CharField(), help_text=", ".join(WebhookEventType.values))
        description = serializers.CharField(required=False, allow_blank=True, max_length=200)

    @extend_schema(responses={200: WebhookOutput(many=True), **ERRORS})
    def get(self, request, slug):
        project = project_for_api(request, slug, CURATE_ROLES)
        return Response(WebhookOutput(webhooks_for_project(project=project), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: WebhookOutput, 400: ErrorSerializer, **ERRORS})
    def post(self, request, slug):
        project = project_for_api(request, slug, CURATE_ROLES)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hook = webhook_create(project=project, user=request.user, **data.validated_data)
        return Response(WebhookOutput(hook).data, status=201)


class WebhookDetailApi(APIView):
    """One webhook: read, change (``url``, ``events``, ``description``, ``active``, ``rotate_secret``), delete."""

    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=2000, required=False)
        events = serializers.ListField(child=serializers.CharField(), required=False)
        description = serializers.CharField(required=False, allow_blank=True, max_length=200)
        active = serializers.BooleanField(required=False)
        rotate_secret = serializers.BooleanField(required=False, default=False)

    @extend_schema(responses={200: WebhookOutput, **ERRORS})
    def get(self, request, webhook_id):
        return Response(WebhookOutput(webhook_get_for_api(request.user, webhook_id)).data)

    @extend_schema(request=InputSerializer, responses={200: WebhookOutput, 400: ErrorSerializer, **ERRORS})
    def patch(self, request, webhook_id):
        hook = webhook_get_for_api(request.user, webhook_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hook = webhook_update(webhook=hook, **data.validated_data)
        return Response(WebhookOutput(hook).data)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted"), **ERRORS})
    def delete(self, request, webhook_id):
        webhook_delete(webhook=webhook_get_for_api(request.user, webhook_id))
        return Response(status=204)


class WebhookDeliveryListApi(APIView):
    """The webhook's latest deliveries (newest first): status code, attempts, error."""

    @extend_schema(responses={200: WebhookDeliveryOutput(many=True), **ERRORS})
    def get(self, request, webhook_id):
        hook = webhook_get_for_api(request.user, webhook_id)
        return Response(WebhookDeliveryOutput(webhook_deliveries(webhook=hook), many=True).data)


class WebhookRedeliverApi(APIView):
    """Send a delivery's event again (same event id and body) as a new delivery; 202 with it."""

    @extend_schema(request=None, responses={202: WebhookDeliveryOutput, 400: ErrorSerializer, **ERRORS})
    def post(self, request, webhook_id, delivery_id):
        hook = webhook_get_for_api(request.user, webhook_id)
        try:
            delivery = delivery_get(webhook=hook, delivery_uuid=delivery_id)
        except Http404 as exc:
            raise NotFound("No such delivery.") from exc
        again = webhook_redeliver(delivery=delivery)
        return Response(WebhookDeliveryOutput(again).data, status=202)
