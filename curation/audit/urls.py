"""Audit dashboards under ``/p/<slug>/curate/audit/`` (namespace ``audit``, given in ``curation.urls``)."""

from django.urls import path

from curation.audit import views

urlpatterns = [
    path("p/<slug:slug>/curate/audit/", views.overview, name="overview"),
    path("p/<slug:slug>/curate/audit/run/", views.run_audit, name="run"),
    path("p/<slug:slug>/curate/audit/encode/", views.run_encode, name="encode"),
    path("p/<slug:slug>/curate/audit/disagreement/", views.disagreement, name="disagreement"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/", views.item_drill, name="item"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/exclude/", views.item_exclude, name="item-exclude"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/resolve/", views.item_resolve, name="item-resolve"),
    path("p/<slug:slug>/curate/audit/items/<uuid:item_uuid>/more/", views.item_more, name="item-more"),
    path("p/<slug:slug>/curate/audit/ches/", views.ches, name="ches"),
    path("p/<slug:slug>/curate/audit/annotators/", views.annotators, name="annotators"),
    path("p/<slug:slug>/curate/audit/discretion/", views.discretion, name="discretion"),
    path("p/<slug:slug>/curate/audit/ambiguity/", views.ambiguity, name="ambiguity"),
    path("p/<slug:slug>/curate/audit/questions/", views.questions, name="questions"),
    path("p/<slug:slug>/curate/audit/questions/<slug:key>/", views.question, name="question"),
]
