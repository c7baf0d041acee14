"""The people pages (namespace ``curation``, given in ``curation.urls``)."""

from django.urls import path

from curation.people import views

urlpatterns = [
    path("p/<slug:slug>/curate/invites/", views.invites, name="invites"),
    path("p/<slug:slug>/curate/crowd/", views.crowd, name="crowd"),
    path(
        "p/<slug:slug>/curate/members/<str:username>/<str:action>/",
        views.member_account,
        name="member-account",
    ),
]
