from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("curation.urls")),
    path("", include("curation.urls_jobs")),
    path("", include("curation.urls_synthesis")),
    path("", include("curation.urls_audit")),
    path("", include("annotate.urls")),
]
