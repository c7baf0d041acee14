from django.contrib import admin
from django.urls import include, path

# The annotate loop's URLs first: Django tries patterns in order, and the loop
# is most of the traffic (none of these overlap the others).
urlpatterns = [
    path("", include("annotate.urls")),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("api/", include("api.urls")),
    path("", include("curation.urls")),
]
