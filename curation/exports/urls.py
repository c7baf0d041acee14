"""Datasets pages under ``/p/<slug>/datasets/`` (namespace ``datasets``, given in ``curation.urls``)."""

from django.urls import path

from curation.exports import views

urlpatterns = [
    path("p/<slug:slug>/datasets/", views.dataset_list, name="list"),
    path("p/<slug:slug>/datasets/count/", views.export_count_view, name="count"),
    path("p/<slug:slug>/datasets/jobs/<uuid:job_uuid>/", views.export_job, name="job"),
    path("p/<slug:slug>/datasets/<uuid:dataset_uuid>/", views.dataset_detail, name="detail"),
    path("p/<slug:slug>/datasets/<uuid:dataset_uuid>/dataset.tar", views.dataset_archive, name="archive"),
    path("p/<slug:slug>/datasets/<uuid:dataset_uuid>/files/<path:name>", views.dataset_file, name="file"),
]
