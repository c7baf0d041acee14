"""Job pages and launch forms under ``/p/<slug>/curate/``."""

from django.urls import path

from curation.jobs import views as views_jobs

app_name = "jobs"

urlpatterns = [
    path("p/<slug:slug>/curate/jobs/", views_jobs.job_list, name="list"),
    path("p/<slug:slug>/curate/jobs/<uuid:job_uuid>/", views_jobs.job_detail, name="detail"),
    path("p/<slug:slug>/curate/jobs/<uuid:job_uuid>/cancel/", views_jobs.job_cancel_view, name="cancel"),
    path("p/<slug:slug>/curate/generate/", views_jobs.generate_launch, name="generate"),
    path("p/<slug:slug>/curate/judge/", views_jobs.judge_launch, name="judge"),
]
