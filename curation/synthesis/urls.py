"""Synthesis pages under ``/p/<slug>/curate/synthesize/`` (namespace ``synthesis``, given in ``curation.urls``)."""

from django.urls import path

from curation.synthesis import views

urlpatterns = [
    path("p/<slug:slug>/curate/synthesize/", views.synthesize_launch, name="launch"),
    path("p/<slug:slug>/curate/synthesize/<uuid:job_uuid>/", views.synthesize_review, name="review"),
]
