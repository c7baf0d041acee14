"""The refine page of a principle (namespace ``refinement``, given in ``curation.urls``)."""

from django.urls import path

from curation.refinement import views

urlpatterns = [
    path(
        "p/<slug:slug>/curate/audit/ambiguity/principles/<int:principle_id>/",
        views.refine,
        name="refine",
    ),
]
