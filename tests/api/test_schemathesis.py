"""Property-based checks of every API operation against its own OpenAPI
schema: no input, however odd, gets a 5xx, and responses match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from knox.models import AuthToken

from annotate.models import Membership, Role
from config.wsgi import application
from tests.factories import ProjectFactory, UserFactory, make_item

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def _keep_test_connection():
    """The WSGI handler closes database connections after each request, which
    would close the test transaction's connection (Django's own test client
    suspends this the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth_header(db, _keep_test_connection):
    project = ProjectFactory(slug="demo")
    for kind in ("pairwise", "thumb", "ranking", "judgment"):
        make_item(project, kind=kind)
    user = UserFactory(username="schemathesis")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    _instance, token = AuthToken.objects.create(user=user)
    return {"Authorization": f"Token {token}"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors(case, auth_header):
    response = case.call(headers=auth_header)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
    )
    case.validate_response(response, checks=(schemathesis.checks.not_a_server_error,))
