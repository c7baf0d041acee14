"""Webhook pages under ``/p/<slug>/curate/webhooks/`` (namespace ``webhooks``, given in ``curation.urls``)."""

from django.urls import path

from curation.webhooks import views

urlpatterns = [
    path("p/<slug:slug>/curate/webhooks/", views.webhook_list, name="list"),
    path("p/<slug:slug>/curate/webhooks/<uuid:webhook_uuid>/", views.webhook_detail, name="detail"),
    path("p/<slug:slug>/curate/webhooks/<uuid:webhook_uuid>/delete/", views.webhook_delete_view, name="delete"),
    path(
        "p/<slug:slug>/curate/webhooks/<uuid:webhook_uuid>/deliveries/<uuid:delivery_uuid>/redeliver/",
        views.delivery_redeliver_view,
        name="redeliver",
    ),
]
