"""The judge page's URL (namespace ``jobs``, given in ``curation.urls``)."""

from django.urls import path

from curation.judging import views

urlpatterns = [
    path("p/<slug:slug>/curate/judge/", views.judge_launch, name="judge"),
]
