"""DRF's browsable API, without breadcrumbs to paths only the catch-all answers.

Every path under ``/api/`` resolves (``UnknownApi`` answers the rest with a
JSON 404), so DRF's breadcrumbs, which list every prefix of the path that
resolves to a view, would link ``/api/v1`` and ``/api/v1/projects`` (no
slash): dead links on every page of the browsable API. And no inline
``<style>`` (Pygments' colours), which the Content-Security-Policy blocks.
"""

from __future__ import annotations

from django.urls import Resolver404, resolve
from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def get_context(self, data, accepted_media_type, renderer_context):
        """No ``<style>`` element for code highlighting: the site's CSP allows style sheets from this origin only."""
        context = super().get_context(data, accepted_media_type, renderer_context)
        context["code_style"] = None
        return context

    def get_breadcrumbs(self, request):
        kept = []
        for name, url in super().get_breadcrumbs(request):
            try:
                match = resolve(url.split("?", 1)[0])
            except Resolver404:
                continue
            if match.url_name != "api-unknown":
                kept.append((name, url))
        return kept
