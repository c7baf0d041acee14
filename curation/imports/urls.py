"""An import job's rejected lines (namespace ``jobs``, beside the job pages)."""

from django.urls import path

from curation.imports import views

urlpatterns = [
    path("p/<slug:slug>/curate/jobs/<uuid:job_uuid>/rejected.jsonl", views.rejected_download, name="import_rejected"),
]
