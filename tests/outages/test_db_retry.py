"""A database connection killed while a request uses it (``pg_terminate_backend``): health checks replace
one that died between requests, and config/middleware.py runs a safe request again once, so the annotator
sees the page, and a submission is stored once, instead of a 500."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.db import connection, connections
from django.urls import reverse

from annotate import views
from annotate.models import Annotation, Assignment, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db(transaction=True)


def kill_this_connection() -> None:
    """Terminate the backend of Django's connection, from another connection."""
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


@pytest.fixture
def annotator(client):
    project = ProjectFactory(overlap=1)
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    for _ in range(3):
        make_item(project, kind="thumb")
    client.force_login(user)
    return project, user


@pytest.fixture
def kill_on_first_claim(monkeypatch):
    calls = []
    real = views.assignment_next

    def claim(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            kill_this_connection()
        return real(**kwargs)

    monkeypatch.setattr(views, "assignment_next", claim)
    return calls


def test_health_checks_are_on_by_default():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_a_page_whose_connection_is_killed_in_flight_is_served(client, annotator, kill_on_first_claim):
    project, _user = annotator
    response = client.get(reverse("annotate-next", args=[project.slug]))
    assert response.status_code == 200
    assert len(kill_on_first_claim) == 2  # the view ran again, on a new connection
    assert 'data-assignment="' in response.content.decode()


def test_a_submission_whose_connection_is_killed_after_storing_is_stored_once(client, annotator, monkeypatch):
    project, user = annotator
    page = client.get(reverse("annotate-next", args=[project.slug]))
    assert page.status_code == 200
    lease = Assignment.objects.get(annotator__user=user, status=Assignment.Status.LEASED)
    calls = []
    real = views.assignment_next

    def claim(**kwargs):  # the claim of the next item comes after the answer is committed
        calls.append(kwargs)
        if len(calls) == 1:
            kill_this_connection()
        return real(**kwargs)

    monkeypatch.setattr(views, "assignment_next", claim)
    key = str(uuid.uuid4())
    response = client.post(
        reverse("annotate-submit", args=[project.slug, lease.uuid]),
        {"idempotency_key": key, "choice": "up", "time_spent_ms": "1200"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200, response.content[:500]
    assert len(calls) == 2
    assert "Already saved." in response.content.decode()  # the second run found the first one's answer
    assert Annotation.objects.filter(idempotency_key=key).count() == 1
    assert Annotation.objects.filter(annotator__user=user).count() == 1


def test_a_post_that_is_not_marked_safe_is_not_run_twice(rf, annotator):
    """Only GET/HEAD and ``@retry_safe`` views run again: another POST answers the error as before."""
    from django.db import OperationalError
    from django.urls import resolve

    from config.middleware import RetryLostConnectionMiddleware

    project, user = annotator
    request = rf.post(reverse("annotate-next", args=[project.slug]))
    request.user = user
    request.resolver_match = resolve(request.path)
    connection.close()  # the connection is gone (as if killed)
    middleware = RetryLostConnectionMiddleware(lambda r: None)
    assert middleware.process_exception(request, OperationalError("server closed the connection")) is None
    request = rf.get(reverse("annotate-next", args=[project.slug]))
    request.user = user
    request.resolver_match = resolve(request.path)
    request.htmx = False
    assert middleware.process_exception(request, ValueError("not a database error")) is None
