"""Synthesis pages under ``/p/<slug>/curate/synthesize/``."""

from django.urls import path

from curation.synthesis import views as views_synthesis

app_name = "synthesis"

urlpatterns = [
    path("p/<slug:slug>/curate/synthesize/", views_synthesis.synthesize_launch, name="launch"),
    path("p/<slug:slug>/curate/synthesize/<uuid:job_uuid>/", views_synthesis.synthesize_review, name="review"),
]
