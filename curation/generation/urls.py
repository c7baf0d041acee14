"""The generate page's URL (namespace ``jobs``, given in ``curation.urls``)."""

from django.urls import path

from curation.generation import views

urlpatterns = [
    path("p/<slug:slug>/curate/generate/", views.generate_launch, name="generate"),
]
