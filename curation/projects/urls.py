"""The curator's project pages: ``/curate/``, ``/projects/new/`` and ``/p/<slug>/curate/`` (overview,
settings, principles, questions, members, import, activity; namespace ``curation``, given in ``curation.urls``)."""

from django.urls import path

from curation.projects import views

urlpatterns = [
    path("curate/", views.projects, name="projects"),
    path("projects/new/", views.project_new, name="project-new"),
    path("p/<slug:slug>/curate/", views.overview, name="overview"),
    path("p/<slug:slug>/curate/settings/", views.project_settings, name="settings"),
    path("p/<slug:slug>/curate/settings/preview/", views.guidelines_preview, name="guidelines-preview"),
    path("p/<slug:slug>/curate/principles/", views.principles, name="principles"),
    path("p/<slug:slug>/curate/questions/", views.questions_page, name="questions"),
    path("p/<slug:slug>/curate/members/", views.members, name="members"),
    path("p/<slug:slug>/curate/import/", views.import_items, name="import"),
    path("p/<slug:slug>/curate/activity/", views.activity, name="activity"),
]
