"""The API's documentation pages, served from this server alone.

Swagger UI and Redoc come from the pinned drf-spectacular-sidecar package as
static files (``SPECTACULAR_SETTINGS``). Each page also gets a
Content-Security-Policy (the site's, from django-csp's middleware, plus
``DOCS_CSP_UPDATE``) that lets it load only from this origin: Redoc's
bundle always shows a "by Redocly" logo from its CDN, and the policy keeps
the browser from even requesting it (the image's own error handler then
hides it). Both libraries style themselves with inline styles, hence
``style-src 'unsafe-inline'`` on these two pages only; scripts stay ``'self'``
(the split Swagger view serves its start-up script as a file).
"""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

# What these two pages add to the site's policy (config/settings.py CONTENT_SECURITY_POLICY), nothing more:
# Swagger UI and Redoc set inline styles, Redoc renders its fonts and icons as data: URIs and runs its
# search in a blob: worker. Scripts stay 'self' (the split Swagger view serves its start-up script as a file).
DOCS_CSP_UPDATE = {
    "style-src": [UNSAFE_INLINE],
    "font-src": ["data:"],
    "worker-src": [SELF, "blob:"],
}


@method_decorator(csp_update(DOCS_CSP_UPDATE), name="dispatch")
class SwaggerDocsView(SpectacularSwaggerSplitView):
    pass


@method_decorator(csp_update(DOCS_CSP_UPDATE), name="dispatch")
class RedocDocsView(SpectacularRedocView):
    template_name = "api/redoc.html"
