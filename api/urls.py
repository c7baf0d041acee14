from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views

v1 = [
    path("auth/token/", views.TokenCreateApi.as_view(), name="api-token-create"),
    path("auth/logout/", views.TokenDeleteApi.as_view(), name="api-token-delete"),
    path("me/", views.MeApi.as_view(), name="api-me"),
    path("projects/", views.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", views.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<slug:slug>/prompts/", views.PromptListApi.as_view(), name="api-prompts"),
    path("projects/<slug:slug>/items/", views.ItemListApi.as_view(), name="api-items"),
    path(
        "projects/<slug:slug>/items/<uuid:item_id>/annotations/",
        views.AnnotationCreateApi.as_view(),
        name="api-annotation-create",
    ),
    path("projects/<slug:slug>/annotations/", views.AnnotationListApi.as_view(), name="api-annotations"),
    path("projects/<slug:slug>/import/", views.ImportApi.as_view(), name="api-import"),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *[path(f"v1/{p.pattern}", p.callback, name=p.name) for p in v1],
]
