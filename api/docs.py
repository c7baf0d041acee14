"""The API's documentation pages, served from this server alone.

Swagger UI and Redoc come from the pinned drf-spectacular-sidecar package as
static files (``SPECTACULAR_SETTINGS``). Each page also gets a
Content-Security-Policy that lets it load only from this origin: Redoc's
bundle always shows a "by Redocly" logo from its CDN, and the policy keeps
the browser from even requesting it (the image's own error handler then
hides it). Both libraries style themselves with inline styles, hence
``style-src 'unsafe-inline'`` on these two pages only; scripts stay ``'self'``
(the split Swagger view serves its start-up script as a file).
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class _SameOriginOnly:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP)
        return response


class SwaggerDocsView(_SameOriginOnly, SpectacularSwaggerSplitView):
    pass


class RedocDocsView(_SameOriginOnly, SpectacularRedocView):
    template_name = "api/redoc.html"
