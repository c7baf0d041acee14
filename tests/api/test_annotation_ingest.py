"""External annotations through the API go through the one ingest service.

Regression tests for issue 14's two bugs: an API annotation was counted like
a person's without taking a slot (an item ended with more counted judgments
than its overlap and ``slots_taken`` out of step), and a reused idempotency
key returned another item's annotation with 200 (or, in a race, a 500).
"""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Annotation, Annotator, Assignment, Item
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_item

HTMX = {"HTTP_HX_REQUEST": "true"}


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def annotation_url(project, item) -> str:
    return f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/"


def external(choice: str = "A", key: str | None = None, name: str = "gpt-judge") -> dict:
    body = {"annotator": {"name": name, "model_name": "gpt-x"}, "choice": choice}
    if key is not None:
        body["idempotency_key"] = key
    return body


def assert_slots_in_step(item: Item) -> None:
    """``slots_taken`` = live leases + counted judgments; ``annotation_count`` = counted judgments.

    Counted: people's and imported labels; model annotators (built-in judges,
    external ones through the API) never take a slot.
    """
    item.refresh_from_db()
    leased = Assignment.objects.filter(item=item, status=Assignment.Status.LEASED).count()
    counted = Annotation.objects.filter(item=item).exclude(annotator__type=Annotator.Type.MODEL).count()
    assert (item.slots_taken, item.annotation_count) == (leased + counted, counted), (
        f"slots_taken={item.slots_taken} annotation_count={item.annotation_count} leased={leased} counted={counted}"
    )


def open_annotate_page(client, project) -> tuple[str, str]:
    """Open the annotate page: the lease it shows and the form's idempotency key."""
    page = client.get(reverse("annotate-next", args=[project.slug])).content.decode()
    lease = re.search(r'data-assignment="([0-9a-f-]+)"', page)
    assert lease, page[:2000]
    return lease.group(1), re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', page).group(1)


def submit_left(client, project, lease: str, key: str) -> None:
    url = reverse("annotate-submit", args=[project.slug, lease])
    response = client.post(url, {"idempotency_key": key, "choice": "left"}, **HTMX)
    assert response.status_code == 200 and "Saved." in response.content.decode()


@pytest.mark.django_db
def test_an_api_annotation_takes_no_human_slot_and_two_people_still_complete_the_item(personas, project):
    """Overlap 2, one API annotation, then two people: 2 counted judgments, slots in step."""
    project.overlap = 2
    project.save(update_fields=["overlap"])
    item = make_item(project)
    response = api_client(personas["curator"]).post(annotation_url(project, item), external("B"), format="json")
    assert response.status_code == 201
    # A model's label is stored, but it is not one of the item's two human judgments.
    assert_slots_in_step(item)
    assert (item.annotation_count, item.slots_taken, item.status) == (0, 0, Item.Status.OPEN)

    people = [UserFactory() for _ in range(3)]
    for user in people:
        MembershipFactory(project=project, user=user)
    browsers = [Client() for _ in people]
    for browser, user in zip(browsers, people, strict=True):
        browser.force_login(user)
    # Both open the page (both get a lease: two human slots), then both submit.
    pages = [open_annotate_page(browser, project) for browser in browsers[:2]]
    assert_slots_in_step(item)
    for browser, (lease, key) in zip(browsers, pages):
        submit_left(browser, project, lease, key)
        assert_slots_in_step(item)
    assert (item.annotation_count, item.slots_taken, item.status) == (2, 2, Item.Status.DONE)
    assert Annotation.objects.filter(item=item).count() == 3  # the model's label is kept
    # Nothing left for a third person: the two human slots are taken.
    page = browsers[2].get(reverse("annotate-next", args=[project.slug])).content.decode()
    assert 'data-done="true"' in page


@pytest.mark.django_db
def test_an_idempotency_key_reused_for_another_item_is_a_409(personas, project):
    first, second = make_item(project), make_item(project)
    api = api_client(personas["curator"])
    key = str(uuid.uuid4())
    stored = api.post(annotation_url(project, first), external("A", key), format="json")
    assert stored.status_code == 201

    reused = api.post(annotation_url(project, second), external("B", key), format="json")
    assert reused.status_code == 409, reused.content
    error = reused.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert "idempotency_key" in error["fields"]
    assert "another item" in error["message"]
    assert not Annotation.objects.filter(item=second).exists()
    # The same key on the same item is the stored annotation, "already saved".
    again = api.post(annotation_url(project, first), external("A", key), format="json")
    assert again.status_code == 200 and again.json()["id"] == stored.json()["id"]
    assert Annotation.objects.count() == 1


@pytest.mark.django_db
def test_a_second_annotation_of_one_item_by_one_annotator_returns_the_first(personas, project):
    item = make_item(project)
    api = api_client(personas["curator"])
    first = api.post(annotation_url(project, item), external("A", str(uuid.uuid4())), format="json")
    second = api.post(annotation_url(project, item), external("B", str(uuid.uuid4())), format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"] and second.json()["choice"] == "A"
    assert Annotation.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reuse_of_one_key_on_two_items_is_never_a_500():
    """Twelve requests with one key, half for each of two items, at once (own connections).

    One is stored (201); the others for its item get it back (200), those
    for the other item a 409. None reaches the ``IntegrityError`` as a 500.
    """
    project = ProjectFactory()
    curator = UserFactory()
    MembershipFactory(project=project, user=curator, role="curator")
    items = [make_item(project), make_item(project)]
    key = str(uuid.uuid4())
    count = 12
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def post(i: int) -> None:
        try:
            api = api_client(curator)
            barrier.wait()
            response = api.post(annotation_url(project, items[i % 2]), external("A", key), format="json")
            results[i] = (i % 2, response.status_code, response.json())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(r is not None for r in results)
    stored = Annotation.objects.get()  # exactly one
    winner = items.index(stored.item)
    statuses = sorted(status for _, status, _ in results)
    assert statuses.count(201) == 1
    assert all(status < 500 for status in statuses), results
    for which, status, body in results:
        if which == winner:
            assert status in (200, 201) and body["id"] == str(stored.uuid)
        else:
            assert status == 409 and body["error"]["code"] == "idempotency_key_reused"
    for item in items:
        assert_slots_in_step(item)
