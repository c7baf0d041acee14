"""Audit dashboards under ``/p/<slug>/curate/audit/`` (``curation.audit.views``)."""

from django.urls import path

from curation.audit import views as views_audit

app_name = "audit"

urlpatterns = [
    path("p/<slug:slug>/curate/audit/", views_audit.overview, name="overview"),
    path("p/<slug:slug>/curate/audit/run/", views_audit.run_audit, name="run"),
    path("p/<slug:slug>/curate/audit/encode/", views_audit.run_encode, name="encode"),
    path("p/<slug:slug>/curate/audit/disagreement/", views_audit.disagreement, name="disagreement"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/", views_audit.item_drill, name="item"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/exclude/", views_audit.item_exclude, name="item-exclude"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/resolve/", views_audit.item_resolve, name="item-resolve"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/more/", views_audit.item_more, name="item-more"),
    path("p/<slug:slug>/curate/audit/ches/", views_audit.ches, name="ches"),
    path("p/<slug:slug>/curate/audit/annotators/", views_audit.annotators, name="annotators"),
    path("p/<slug:slug>/curate/audit/discretion/", views_audit.discretion, name="discretion"),
]
