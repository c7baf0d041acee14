"""The Content-Security-Policy is on every response, from one middleware (issue 15, point 4).

Before, a per-view decorator set it, and the login page, the admin and the
API docs had none. The browser side (no violation on any page) is
tests/browser/test_csp_browser.py.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

SITE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} answered {response.status_code} without a policy"
    directives = [part.strip().split(" ", 1) for part in header.split(";") if part.strip()]
    return {name: " ".join(sorted(value.split())) for name, value in directives}


def assert_site_policy(response) -> None:
    got = policy(response)
    for name, value in SITE.items():
        assert got.get(name) == " ".join(sorted(value.split())), (response.request["PATH_INFO"], name, got)
    assert "'unsafe-inline'" not in " ".join(got.values()) and "'unsafe-eval'" not in " ".join(got.values())


def test_the_middleware_sets_it():
    assert "csp.middleware.CSPMiddleware" in settings.MIDDLEWARE


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/login/",
        "/admin/login/",
        "/account/reset/MQ/not-a-token/",
        "/join/not-a-link/",
        "/invite/not-a-link/",
        "/no/such/page/",
        "/api/v1/",
        "/api/v1/no-such-endpoint/",
        "/api/v1/schema/",
    ],
)
def test_anonymous_responses_carry_the_site_policy(client: Client, path):
    response = client.get(path)
    assert_site_policy(response)


@pytest.mark.parametrize(
    "path",
    ["/", "/account/tokens/", "/p/{slug}/", "/p/{slug}/annotate/", "/p/{slug}/curate/", "/p/{slug}/curate/items/"],
)
def test_signed_in_pages_carry_the_site_policy(client: Client, project, personas, path):
    client.force_login(personas["owner"])
    response = client.get(path.format(slug=project.slug))
    assert response.status_code == 200
    assert_site_policy(response)


def test_the_admin_carries_it(client: Client, admin_user):
    client.force_login(admin_user)
    for path in ["/admin/", "/admin/annotate/project/", "/admin/auth/user/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_site_policy(response)


def test_htmx_fragments_and_errors_carry_it(client: Client, project, personas):
    client.force_login(personas["annotator"])
    assert_site_policy(client.get(f"/p/{project.slug}/annotate/", HTTP_HX_REQUEST="true"))
    assert_site_policy(client.post(f"/p/{project.slug}/annotate/00000000-0000-0000-0000-000000000000/submit/"))


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_relax_only_styles_fonts_and_workers(client: Client, personas, path):
    client.force_login(personas["researcher"])
    response = client.get(path)
    assert response.status_code == 200
    got = policy(response)
    assert got["script-src"] == "'self'"  # no inline script, even here
    assert got["style-src"] == "'self' 'unsafe-inline'"
    assert got["font-src"] == "'self' data:"
    assert got["worker-src"] == "'self' blob:"
    for name in ["default-src", "img-src", "object-src", "base-uri", "form-action", "frame-ancestors"]:
        assert got[name] == " ".join(sorted(SITE[name].split())), name
