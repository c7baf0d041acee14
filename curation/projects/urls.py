"""The curator's project pages: ``/curate/`` and ``/p/<slug>/curate/`` (overview, members, import, activity; namespace ``curation``, given in ``curation.urls``)."""

from django.urls import path

from curation.projects import views

urlpatterns = [
    path("curate/", views.projects, name="projects"),
    path("p/<slug:slug>/curate/", views.overview, name="overview"),
    path("p/<slug:slug>/curate/members/", views.members, name="members"),
    path("p/<slug:slug>/curate/import/", views.import_items, name="import"),
    path("p/<slug:slug>/curate/activity/", views.activity, name="activity"),
]
