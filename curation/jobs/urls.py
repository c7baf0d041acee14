"""Job pages under ``/p/<slug>/curate/jobs/`` (namespace ``jobs``, given in ``curation.urls``)."""

from django.urls import path

from curation.jobs import views

urlpatterns = [
    path("p/<slug:slug>/curate/jobs/", views.job_list, name="list"),
    path("p/<slug:slug>/curate/jobs/<uuid:job_uuid>/", views.job_detail, name="detail"),
    path("p/<slug:slug>/curate/jobs/<uuid:job_uuid>/cancel/", views.job_cancel_view, name="cancel"),
]
