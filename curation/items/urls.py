"""Item pages under ``/p/<slug>/curate/items/`` (namespace ``curation``, given in ``curation.urls``)."""

from django.urls import path

from curation.items import views

urlpatterns = [
    path("p/<slug:slug>/curate/items/", views.items, name="items"),
    path("p/<slug:slug>/curate/items/<uuid:item_uuid>/", views.item_detail, name="item"),
    path("p/<slug:slug>/curate/items/<uuid:item_uuid>/exclude/", views.item_exclude, name="item-exclude"),
]
