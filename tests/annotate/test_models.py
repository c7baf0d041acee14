"""The database itself refuses invalid rows, whatever code path writes them."""

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate.models import Annotation, Annotator, Assignment, Item, Membership, Principle, PrincipleVerdict, Project
from annotate.services.principles import principle_versions_current
from tests.factories import AnnotatorFactory, PrincipleFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db


def annotation(item, annotator, **fields):
    values = {"kind": item.kind, "choice": "A" if item.kind == "pairwise" else ""}
    values.update(fields)
    return Annotation.objects.create(item=item, annotator=annotator, **values)


def refused(callable_, *args, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        callable_(*args, **kwargs)


def test_one_annotation_per_item_and_annotator(project):
    item = make_item(project)
    annotator = AnnotatorFactory()
    annotation(item, annotator)
    refused(annotation, item, annotator, choice="B")
    # a second annotator is fine
    annotation(item, AnnotatorFactory())
    assert Annotation.objects.count() == 2


def test_idempotency_key_unique_per_annotator(project):
    first, second = make_item(project), make_item(project)
    annotator = AnnotatorFactory()
    key = uuid.uuid4()
    annotation(first, annotator, idempotency_key=key)
    refused(annotation, second, annotator, idempotency_key=key)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("pairwise", {"choice": "up"}),
        ("pairwise", {"choice": ""}),
        ("pairwise", {"choice": "A", "strength": 4}),
        ("pairwise", {"choice": "A", "strength": 0}),
        ("thumb", {"choice": "A"}),
        ("thumb", {"choice": "up", "strength": 2}),
        ("ranking", {"choice": "A", "ranking": [["x"]]}),
        ("ranking", {"choice": "", "ranking": None}),
        ("judgment", {"choice": "", "critique": ""}),
        ("judgment", {"choice": "down", "critique": "too long"}),
    ],
)
def test_choice_must_fit_kind(project, kind, fields):
    item = make_item(project, kind=kind)
    refused(annotation, item, AnnotatorFactory(), **fields)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("pairwise", {"choice": "both_bad"}),
        ("pairwise", {"choice": "B", "strength": 3}),
        ("thumb", {"choice": "down"}),
        ("ranking", {"choice": "", "ranking": [["a"], ["b", "c"]]}),
        ("judgment", {"choice": "", "critique": "Wrong year.", "corrected_response": "It was 1969."}),
    ],
)
def test_valid_annotations_are_accepted(project, kind, fields):
    item = make_item(project, kind=kind)
    annotation(item, AnnotatorFactory(), **fields)


def test_assignment_unique_per_item_and_annotator(project):
    item = make_item(project)
    annotator = AnnotatorFactory()
    now = timezone.now()
    Assignment.objects.create(item=item, annotator=annotator, leased_at=now, expires_at=now, status="skipped")
    refused(Assignment.objects.create, item=item, annotator=annotator, leased_at=now, expires_at=now)


def test_item_kind_and_status_checked(project):
    item = make_item(project)
    refused(Item.objects.filter(pk=item.pk).update, kind="essay")
    refused(Item.objects.filter(pk=item.pk).update, status="lost")


def test_item_content_and_external_id_unique_per_project(project):
    item = make_item(project, external_id="q1")
    refused(
        Item.objects.create, project=project, kind="thumb", prompt=item.prompt, content_hash="other", external_id="q1"
    )
    refused(Item.objects.create, project=project, kind="thumb", prompt=item.prompt, content_hash=item.content_hash)
    # empty external ids do not collide
    Item.objects.create(project=project, kind="thumb", prompt=item.prompt, content_hash="h1")
    Item.objects.create(project=project, kind="thumb", prompt=item.prompt, content_hash="h2")


def test_verdict_values_and_uniqueness(project):
    item = make_item(project)
    principle = PrincipleFactory(project=project)
    ann = annotation(item, AnnotatorFactory())
    version = principle_versions_current([principle])[principle.pk]
    PrincipleVerdict.objects.create(annotation=ann, principle=principle, version_id=version, verdict="na")
    refused(PrincipleVerdict.objects.create, annotation=ann, principle=principle, version_id=version, verdict="A")
    other = PrincipleFactory(project=project)
    other_version = principle_versions_current([other])[other.pk]
    refused(PrincipleVerdict.objects.create, annotation=ann, principle=other, version_id=other_version, verdict="maybe")
    refused(
        PrincipleVerdict.objects.create, annotation=ann, principle=other, verdict="A"
    )  # a verdict needs its version


def test_annotators_human_need_user_and_judges_need_model(project):
    refused(Annotator.objects.create, type="human", name="ghost")
    refused(Annotator.objects.create, type="model", name="judge")
    Annotator.objects.create(type="model", name="judge", model_name="smollm2", judge_prompt="Which is better?")
    refused(Annotator.objects.create, type="model", name="judge", model_name="smollm2")


def test_project_and_membership_checks(project):
    refused(Project.objects.create, slug="zero", name="Zero", overlap=0)
    refused(Project.objects.create, slug="probes", name="Probes", probe_rate=0.9)
    user = UserFactory()
    Membership.objects.create(project=project, user=user, role="annotator")
    refused(Membership.objects.create, project=project, user=user, role="curator")
    refused(Membership.objects.create, project=project, user=UserFactory(), role="king")
    refused(Principle.objects.create, project=project, name=PrincipleFactory(project=project).name)
