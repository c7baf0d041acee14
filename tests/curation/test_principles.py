"""Principles: add, edit, reorder, retire and restore (services and the page
``/p/<slug>/curate/principles/``), each logged; a retired principle keeps its
past verdicts and is no longer asked of annotators (page, submit) or judges.
Per-role denial is in ``tests/test_access.py``."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotate.models import Principle, PrincipleVerdict
from annotate.selectors import principles_in_use
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import annotator_for_user, assignment_next
from curation.models import Activity
from curation.projects.services import (
    principle_add,
    principle_move,
    principle_reorder,
    principle_retire,
    principle_update,
)
from tests.factories import ProjectFactory, make_item

pytestmark = pytest.mark.django_db


def names(project):
    return [p.name for p in principles_in_use(project)]


def verbs(project):
    return [(e.verb, e.changes) for e in Activity.objects.filter(project=project).order_by("id")]


def test_add_edit_reorder_retire_restore_each_logged(project, personas):
    owner = personas["owner"]
    honest = principle_add(project=project, name="Honest", description="No made-up facts.", user=owner)
    kind = principle_add(project=project, name="Kind", user=owner)
    brief = principle_add(project=project, name="Brief", user=owner)
    assert names(project) == ["Honest", "Kind", "Brief"]
    principle_update(principle=kind, name="Kind to people", user=owner)
    principle_move(principle=brief, offset=-1, user=owner)
    assert names(project) == ["Honest", "Brief", "Kind to people"]
    principle_reorder(project=project, order=[kind.pk, honest.pk, brief.pk], user=owner)
    assert names(project) == ["Kind to people", "Honest", "Brief"]
    principle_retire(principle=honest, user=owner)
    assert names(project) == ["Kind to people", "Brief"]
    principle_retire(principle=honest, retired=False, user=owner)
    assert names(project) == ["Kind to people", "Brief", "Honest"]
    logged = verbs(project)
    assert [v for v, _ in logged] == [
        "principle.add",
        "principle.add",
        "principle.add",
        "principle.update",
        "principle.reorder",
        "principle.reorder",
        "principle.retire",
        "principle.restore",
    ]
    assert logged[3][1] == {"name": ["Kind", "Kind to people"], "version": [1, 2]}
    assert logged[4][1] == {"order": [["Honest", "Kind to people", "Brief"], ["Honest", "Brief", "Kind to people"]]}
    assert logged[6][1] == {"retired": [False, True]}


def test_bad_principle_writes_are_field_errors_and_change_nothing(project, personas):
    owner = personas["owner"]
    first = principle_add(project=project, name="Honest", user=owner)
    second = principle_add(project=project, name="Kind", user=owner)
    before = verbs(project)
    cases = [
        (lambda: principle_add(project=project, name="  ", user=owner), "name"),
        (lambda: principle_add(project=project, name="honest", user=owner), "name"),
        (lambda: principle_add(project=project, name="x" * 101, user=owner), "name"),
        (lambda: principle_update(principle=second, name="HONEST", user=owner), "name"),
        (lambda: principle_reorder(project=project, order=[first.pk], user=owner), "order"),
        (lambda: principle_reorder(project=project, order=[first.pk, first.pk], user=owner), "order"),
        (lambda: principle_reorder(project=project, order=["a", "b"], user=owner), "order"),
        (lambda: principle_retire(principle=first, retired=False, user=owner), "principle"),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as raised:
            call()
        assert field in raised.value.message_dict
    assert verbs(project) == before and names(project) == ["Honest", "Kind"]
    principle_retire(principle=first, user=owner)
    with pytest.raises(ValidationError):
        principle_move(principle=first, offset=1, user=owner)


def test_retired_principle_keeps_verdicts_and_is_not_asked_again(client, project, personas):
    owner, annotator_user = personas["owner"], personas["annotator"]
    old = principle_add(project=project, name="Old rule", user=owner)
    new = principle_add(project=project, name="New rule", user=owner)
    make_item(project, "pairwise")
    make_item(project, "pairwise")
    annotator = annotator_for_user(annotator_user)
    lease = assignment_next(project=project, annotator=annotator, kind="pairwise")
    annotation_record(
        assignment=lease,
        annotator=annotator,
        data=AnnotationInput(choice="A", verdicts={old.pk: "A", new.pk: "B"}),
        idempotency_key=uuid.uuid4(),
    )
    principle_retire(principle=old, user=owner)
    assert PrincipleVerdict.objects.filter(principle=old).count() == 1  # kept for the audits
    client.force_login(annotator_user)
    page = client.get(reverse("annotate-project", kwargs={"slug": project.slug})).content.decode()
    assert "New rule" in page and "Old rule" not in page
    item_page = client.get(reverse("annotate-next", kwargs={"slug": project.slug})).content.decode()
    assert "New rule" in item_page and "Old rule" not in item_page
    lease = assignment_next(project=project, annotator=annotator, kind="pairwise")
    with pytest.raises(ValidationError) as raised:
        annotation_record(
            assignment=lease,
            annotator=annotator,
            data=AnnotationInput(choice="A", verdicts={old.pk: "A"}),
            idempotency_key=uuid.uuid4(),
        )
    assert "verdicts" in raised.value.message_dict


def test_principles_page_for_owner(client, project, personas):
    client.force_login(personas["owner"])
    url = reverse("curation:principles", kwargs={"slug": project.slug})
    for name in ("Honest", "Kind", "Brief"):
        assert client.post(url, {"action": "add", "name": name, "description": f"{name}, please."}).status_code == 302
    brief = Principle.objects.get(project=project, name="Brief")
    assert client.post(url, {"action": "up", "principle": brief.pk}).status_code == 302
    assert names(project) == ["Honest", "Brief", "Kind"]
    honest = Principle.objects.get(project=project, name="Honest")
    response = client.post(url, {"action": "edit", "principle": honest.pk, "name": "Truthful", "description": ""})
    assert response.status_code == 302
    assert client.post(url, {"action": "retire", "principle": honest.pk}).status_code == 302
    page = client.get(url)
    html = page.content.decode()
    assert [p.name for p in page.context["in_use"]] == ["Brief", "Kind"]
    assert [p.name for p in page.context["retired"]] == ["Truthful"]
    assert 'id="retired-principles"' in html and 'value="restore"' in html
    assert [e.verb for e in Activity.objects.filter(project=project).order_by("id")] == [
        "principle.add",
        "principle.add",
        "principle.add",
        "principle.reorder",
        "principle.update",
        "principle.retire",
    ]


def test_principles_page_errors(client, project, personas):
    client.force_login(personas["owner"])
    url = reverse("curation:principles", kwargs={"slug": project.slug})
    client.post(url, {"action": "add", "name": "Honest"})
    response = client.post(url, {"action": "add", "name": "honest"})
    assert response.status_code == 400
    assert "name" in response.context["add_form"].errors
    elsewhere = principle_add(project=ProjectFactory(), name="Elsewhere", user=None)
    response = client.post(url, {"action": "retire", "principle": elsewhere.pk})
    assert response.status_code == 400 and "principle" in response.context["errors"]
    response = client.post(url, {"action": "explode", "principle": 1})
    assert response.status_code == 400
    assert names(project) == ["Honest"] and Principle.objects.get(pk=elsewhere.pk).retired_at is None


def test_principles_page_read_only_for_curators(client, project, personas):
    principle_add(project=project, name="Honest", user=personas["owner"])
    client.force_login(personas["curator"])
    url = reverse("curation:principles", kwargs={"slug": project.slug})
    html = client.get(url).content.decode()
    assert "Honest" in html and "Add a principle" not in html and 'value="retire"' not in html
    assert client.post(url, {"action": "add", "name": "Sneaky"}).status_code == 403
    assert names(project) == ["Honest"]


def test_judge_page_names_only_principles_in_use(client, project, personas):
    principle_add(project=project, name="Honest", user=None)
    old = principle_add(project=project, name="Outdated", user=None)
    principle_retire(principle=old, user=None)
    client.force_login(personas["curator"])
    html = client.get(reverse("jobs:judge", kwargs={"slug": project.slug})).content.decode()
    assert "principle in use (Honest)" in html and "Outdated" not in html
