"""The annotation-ingest service: who takes a slot, idempotency, bulk labels, races.

Every writer goes through ``annotation_record`` (or ``annotations_record_bulk``
for import); these tests hold the rules it owns on every item:

    slots_taken = live leases + judgments of people and imported labels
    annotation_count = judgments of people and imported labels
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Annotation, Annotator, Assignment, Item
from annotate.services.annotations import (
    AnnotationInput,
    IdempotencyKeyReused,
    Label,
    annotation_record,
    annotations_record_bulk,
    annotator_takes_slot,
)
from annotate.services.assignment import annotator_for_user, assignment_next
from tests.annotate.test_concurrency import make_annotators, run_threads
from tests.factories import ProjectFactory, UserFactory, make_item


def assert_slots_in_step(item: Item) -> None:
    item.refresh_from_db()
    leased = Assignment.objects.filter(item=item, status=Assignment.Status.LEASED).count()
    counted = Annotation.objects.filter(item=item).exclude(annotator__type=Annotator.Type.MODEL).count()
    assert (item.slots_taken, item.annotation_count) == (leased + counted, counted), (
        f"slots_taken={item.slots_taken} annotation_count={item.annotation_count} leased={leased} counted={counted}"
    )


def model_annotator(name: str = "judge") -> Annotator:
    return Annotator.objects.create(type=Annotator.Type.MODEL, name=name, model_name="m")


def imported_annotator(name: str = "imported:hh") -> Annotator:
    return Annotator.objects.create(type=Annotator.Type.IMPORTED, name=name)


@pytest.mark.django_db
def test_who_takes_a_slot():
    assert annotator_takes_slot(annotator_for_user(UserFactory()))
    assert annotator_takes_slot(imported_annotator())
    assert not annotator_takes_slot(model_annotator())


@pytest.mark.django_db
def test_without_a_lease_imported_labels_take_a_slot_and_model_labels_do_not(project):
    item = make_item(project)  # overlap 2
    judge, imported = model_annotator(), imported_annotator()
    annotation, created = annotation_record(item=item, annotator=judge, data=AnnotationInput(choice="A"))
    assert created and annotation.pk
    assert_slots_in_step(item)
    assert (item.slots_taken, item.annotation_count, item.status) == (0, 0, "open")
    annotation_record(item=item, annotator=imported, data=AnnotationInput(choice="B"))
    assert_slots_in_step(item)
    assert (item.slots_taken, item.annotation_count, item.status) == (1, 1, "open")
    # One slot left: one person gets it, a second finds nothing.
    alice, bob = (annotator_for_user(UserFactory()) for _ in range(2))
    lease = assignment_next(project=project, annotator=alice)
    assert lease.item == item and assignment_next(project=project, annotator=bob) is None
    annotation_record(assignment=lease, annotator=alice, data=AnnotationInput(choice="A"), idempotency_key=uuid.uuid4())
    assert_slots_in_step(item)
    assert (item.slots_taken, item.annotation_count, item.status) == (2, 2, "done")


@pytest.mark.django_db
def test_an_imported_label_on_a_full_item_is_kept_and_counted_past_the_overlap(project):
    """The label exists already: it is never refused, and the leases held stay valid."""
    item = make_item(project)  # overlap 2
    people = [annotator_for_user(UserFactory()) for _ in range(2)]
    leases = [assignment_next(project=project, annotator=p) for p in people]
    assert all(lease.item == item for lease in leases)
    annotation_record(item=item, annotator=imported_annotator(), data=AnnotationInput(choice="B"))
    assert_slots_in_step(item)
    assert (item.slots_taken, item.annotation_count) == (3, 1)
    for lease, person in zip(leases, people, strict=True):
        _annotation, created = annotation_record(
            assignment=lease, annotator=person, data=AnnotationInput(choice="A"), idempotency_key=uuid.uuid4()
        )
        assert created
        assert_slots_in_step(item)
    assert (item.slots_taken, item.annotation_count, item.status) == (3, 3, "done")


@pytest.mark.django_db
def test_recording_again_returns_the_stored_one_and_a_key_for_another_item_is_refused(project):
    first, second = make_item(project), make_item(project)
    imported = imported_annotator()
    key = uuid.uuid4()
    stored, created = annotation_record(
        item=first, annotator=imported, data=AnnotationInput(choice="A"), idempotency_key=key
    )
    assert created
    # Same key, same item: the stored one, nothing counted twice.
    again, created = annotation_record(
        item=first, annotator=imported, data=AnnotationInput(choice="B"), idempotency_key=key
    )
    assert (again.pk, again.choice, created) == (stored.pk, "A", False)
    # Another key, same item and annotator: still the stored one (one judgment per item and annotator).
    other, created = annotation_record(
        item=first, annotator=imported, data=AnnotationInput(choice="B"), idempotency_key=uuid.uuid4()
    )
    assert (other.pk, created) == (stored.pk, False)
    assert_slots_in_step(first)
    assert first.annotation_count == 1
    # Same key, another item: refused, naming the field; nothing written.
    with pytest.raises(IdempotencyKeyReused) as refused:
        annotation_record(item=second, annotator=imported, data=AnnotationInput(choice="A"), idempotency_key=key)
    assert "idempotency_key" in refused.value.message_dict
    assert isinstance(refused.value, ValidationError)
    assert not Annotation.objects.filter(item=second).exists()
    assert_slots_in_step(second)
    assert second.annotation_count == 0


@pytest.mark.django_db
def test_bad_input_names_the_field_and_writes_nothing(project):
    item = make_item(project, kind="thumb")
    with pytest.raises(ValidationError) as err:
        annotation_record(item=item, annotator=imported_annotator(), data=AnnotationInput(choice="A"))
    assert "choice" in err.value.message_dict
    assert not Annotation.objects.exists()
    assert_slots_in_step(item)


@pytest.mark.django_db
def test_a_probe_is_judged_only_by_its_annotator_on_a_lease(project):
    original = make_item(project)
    owner = annotator_for_user(UserFactory())
    probe = make_item(project, probe_of=original, probe_for=owner)
    for writer in (model_annotator(), imported_annotator()):
        with pytest.raises(ValidationError) as err:
            annotation_record(item=probe, annotator=writer, data=AnnotationInput(choice="A"))
        assert "item" in err.value.message_dict
    assert not Annotation.objects.exists()


@pytest.mark.django_db
def test_bulk_labels_count_once_and_skip_what_is_stored(project):
    project.overlap = 1
    project.save(update_fields=["overlap"])
    items = [make_item(project) for _ in range(3)]
    imported = imported_annotator()
    annotation_record(item=items[0], annotator=imported, data=AnnotationInput(choice="B"))
    stored = annotations_record_bulk(
        annotator=imported,
        labels=[
            Label(item=item, data=AnnotationInput(choice="A", metadata={"import": {"line": n}}))
            for n, item in enumerate(items)
        ],
    )
    assert sorted(a.item_id for a in stored) == [items[1].pk, items[2].pk]
    assert all(a.pk for a in stored)
    assert Annotation.objects.get(item=items[0]).choice == "B"  # the stored label is kept
    assert Annotation.objects.get(item=items[2]).metadata == {"import": {"line": 2}}
    for item in items:
        assert_slots_in_step(item)
        assert (item.annotation_count, item.status) == (1, "done")
    with pytest.raises(ValidationError) as err:
        annotations_record_bulk(annotator=imported, labels=[Label(item=items[0], data=AnnotationInput(choice="up"))])
    assert "choice" in err.value.message_dict


@pytest.mark.django_db
def test_model_labels_in_bulk_take_nothing(project):
    items = [make_item(project) for _ in range(2)]
    stored = annotations_record_bulk(
        annotator=model_annotator(), labels=[Label(item=item, data=AnnotationInput(choice="A")) for item in items]
    )
    assert len(stored) == 2
    for item in items:
        assert_slots_in_step(item)
        assert (item.annotation_count, item.slots_taken) == (0, 0)


@pytest.mark.django_db
def test_an_imported_label_takes_part_in_adaptive_overlap_and_a_model_label_does_not():
    project = ProjectFactory(overlap=2, max_overlap=3, agreement_threshold=0.75)
    item = make_item(project)
    annotation_record(item=item, annotator=model_annotator(), data=AnnotationInput(choice="A"))
    person = annotator_for_user(UserFactory())
    lease = assignment_next(project=project, annotator=person)
    annotation_record(
        assignment=lease, annotator=person, data=AnnotationInput(choice="A"), idempotency_key=uuid.uuid4()
    )
    # The imported B brings the item to its target with A, B (1/2 < 0.75): one more judgment is wanted.
    annotations_record_bulk(annotator=imported_annotator(), labels=[Label(item=item, data=AnnotationInput(choice="B"))])
    assert_slots_in_step(item)
    assert (item.annotation_count, item.target_overlap, item.status) == (2, 3, "open")
    other = annotator_for_user(UserFactory())
    lease = assignment_next(project=project, annotator=other)
    assert lease.item == item
    annotation_record(assignment=lease, annotator=other, data=AnnotationInput(choice="A"), idempotency_key=uuid.uuid4())
    assert_slots_in_step(item)
    assert (item.annotation_count, item.status) == (3, "done")


# Races (PostgreSQL, one connection per thread) ----------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_person_reusing_a_key_on_two_leases_at_once_stores_one():
    """Two tabs submit two items with one key at the same moment: one is stored, the other refused."""
    project = ProjectFactory(overlap=2, lease_seconds=600)
    items = [make_item(project), make_item(project)]
    (person,) = make_annotators(1)
    first = assignment_next(project=project, annotator=person)
    # A second live lease of the same person (another tab), taken as the claim takes one.
    other = next(item for item in items if item.pk != first.item_id)
    Item.objects.filter(pk=other.pk).update(slots_taken=1)
    second = Assignment.objects.create(
        item=other, annotator=person, status="leased", leased_at=first.leased_at, expires_at=first.expires_at
    )
    leases = [first, Assignment.objects.select_related("item__project").get(pk=second.pk)]
    key = uuid.uuid4()

    def submit(i: int, barrier: threading.Barrier):
        barrier.wait()
        try:
            annotation, created = annotation_record(
                assignment=leases[i], annotator=person, data=AnnotationInput(choice="A"), idempotency_key=key
            )
        except IdempotencyKeyReused:
            return "refused"
        return "stored" if created else "repeat"

    results = run_threads(2, submit)
    assert sorted(results) == ["refused", "stored"]
    stored = Annotation.objects.get()
    for lease in leases:
        lease.refresh_from_db()
        expected = Assignment.Status.SUBMITTED if lease.item_id == stored.item_id else Assignment.Status.LEASED
        assert lease.status == expected
    for item in items:
        assert_slots_in_step(item)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_writers_of_one_judgment_at_once_store_it_once():
    """A judge run twice and a retried request: eight threads record one (item, annotator), half with one key."""
    project = ProjectFactory(overlap=2)
    item = make_item(project)
    imported = imported_annotator()
    shared = uuid.uuid4()
    keys = [shared if i % 2 else uuid.uuid4() for i in range(8)]

    def record(i: int, barrier: threading.Barrier):
        barrier.wait()
        annotation, created = annotation_record(
            item=item, annotator=imported, data=AnnotationInput(choice="A"), idempotency_key=keys[i]
        )
        return annotation.pk, created

    results = run_threads(len(keys), record)
    only = Annotation.objects.get()
    assert {pk for pk, _ in results} == {only.pk}
    assert sum(created for _, created in results) == 1
    assert_slots_in_step(item)
    assert item.annotation_count == 1
