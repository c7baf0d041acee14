"""Annotators never see each other's labels (blind annotation)."""

import uuid

import pytest

from annotate.models import Assignment, Membership, Role
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import annotator_for_user, assignment_next
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", ["pairwise", "judgment"])
def test_second_annotator_sees_nothing_of_the_first(client, project, kind):
    item = make_item(project, kind=kind)
    first, second = UserFactory(), UserFactory()
    for user in (first, second):
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    lease = assignment_next(project=project, annotator=annotator_for_user(first))
    data = AnnotationInput(rationale="SECRET-RATIONALE-OF-THE-FIRST")
    if kind == "pairwise":
        data.choice = "A"
    else:
        data.critique = "SECRET-CRITIQUE-OF-THE-FIRST"
        data.corrected_response = "SECRET-CORRECTION-OF-THE-FIRST"
    annotation_record(assignment=lease, annotator=annotator_for_user(first), data=data, idempotency_key=uuid.uuid4())

    client.force_login(second)
    page = client.get(f"/p/{project.slug}/annotate/").content.decode()
    # the second annotator is on the very item the first labelled
    assert Assignment.objects.get(annotator__user=second).item == item
    assert "SECRET-" not in page
    assert first.username not in page
    # nor on the project page
    assert "SECRET-" not in client.get(f"/p/{project.slug}/").content.decode()
