"""The submission form: fields built once per kind and shared, never changed by a form that uses them."""

from __future__ import annotations

import uuid

import pytest

from annotate.forms import SubmitForm
from annotate.services.assignment import annotator_for_user, assignment_next
from tests.factories import PrincipleFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db


def _lease(project, kind):
    make_item(project, kind=kind)
    return assignment_next(project=project, annotator=annotator_for_user(UserFactory()), kind=kind)


def test_forms_of_a_kind_share_fields_and_errors_stay_their_own(project):
    principle = PrincipleFactory(project=project)
    judgment = _lease(project, "judgment")
    principles = [principle]
    bad = SubmitForm({"idempotency_key": str(uuid.uuid4())}, assignment=judgment, principles=principles)
    good = SubmitForm(
        {"idempotency_key": str(uuid.uuid4()), "critique": "Too terse.", f"verdict_{principle.pk}": "A"},
        assignment=judgment,
        principles=principles,
    )
    assert bad.fields["critique"] is good.fields["critique"]  # built once, shared
    assert not bad.is_valid() and bad.errors["critique"] == ["Write a critique of the response."]
    assert good.is_valid(), good.errors
    assert good.to_input().verdicts == {principle.pk: "A"}


def test_kinds_keep_their_own_rules(project):
    thumb = _lease(project, "thumb")
    judgment = _lease(project, "judgment")
    # A judgment requires a critique; a thumb's critique field stays optional (and is refused as data later).
    assert SubmitForm({}, assignment=judgment, principles=[]).fields["critique"].required
    thumb_form = SubmitForm({"idempotency_key": str(uuid.uuid4())}, assignment=thumb, principles=[])
    assert not thumb_form.fields["critique"].required
    assert not thumb_form.is_valid() and thumb_form.errors["choice"] == ["Choose thumbs up or down."]


def test_ranking_fields_are_the_lease_own(project):
    from annotate.forms import _shared_fields

    ranking = _lease(project, "ranking")
    form = SubmitForm({"idempotency_key": str(uuid.uuid4())}, assignment=ranking, principles=[])
    assert sorted(k for k in form.fields if k.startswith("rank_")) == sorted(f"rank_{u}" for u in form.screen)
    other = SubmitForm({}, assignment=ranking, principles=[])
    assert all(form.fields[k] is not other.fields[k] for k in form.fields if k.startswith("rank_"))
    assert not [k for k in _shared_fields("ranking", ()) if k.startswith("rank_")]  # the shared set is untouched
