import uuid

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Annotation, Assignment, Item
from annotate.services import assignment as assignment_service
from annotate.services.assignment import (
    AnnotationInput,
    annotation_submit,
    annotator_for_user,
    assignment_next,
    assignment_skip,
)
from tests.factories import UserFactory, make_item


@pytest.fixture(autouse=True, params=["sql", "orm"])
def claim_path(request, monkeypatch):
    """Run every test on both next-item paths: PostgreSQL's one-statement claim and the ORM reference."""
    monkeypatch.setattr(assignment_service, "USE_SQL_CLAIM", request.param == "sql")


@pytest.mark.django_db
def test_item_reaches_at_most_overlap_and_never_twice(project):
    item = make_item(project)
    people = [annotator_for_user(UserFactory()) for _ in range(3)]
    first = assignment_next(project=project, annotator=people[0])
    second = assignment_next(project=project, annotator=people[1])
    assert first.item == item and second.item == item
    assert assignment_next(project=project, annotator=people[2]) is None  # overlap 2 reached
    # The same annotator gets the lease they hold, not a second one.
    assert assignment_next(project=project, annotator=people[0]) == first


@pytest.mark.django_db
def test_submit_twice_stores_once(project):
    make_item(project)
    annotator = annotator_for_user(UserFactory())
    lease = assignment_next(project=project, annotator=annotator)
    key = uuid.uuid4()
    a1, created1 = annotation_submit(
        assignment=lease, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=key
    )
    a2, created2 = annotation_submit(
        assignment=lease, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=key
    )
    a3, created3 = annotation_submit(
        assignment=lease, annotator=annotator, data=AnnotationInput(choice="B"), idempotency_key=uuid.uuid4()
    )
    assert (created1, created2, created3) == (True, False, False)
    assert a1 == a2 == a3
    assert Annotation.objects.count() == 1
    assert Assignment.objects.get().status == "submitted"


@pytest.mark.django_db
def test_skip_returns_item_to_pool_for_others_only(project):
    item = make_item(project)
    alice, bob = (annotator_for_user(UserFactory()) for _ in range(2))
    lease = assignment_next(project=project, annotator=alice)
    assert assignment_skip(assignment=lease, annotator=alice)
    assert assignment_next(project=project, annotator=alice) is None
    assert assignment_next(project=project, annotator=bob).item == item
    item.refresh_from_db()
    assert item.slots_taken == 1


@pytest.mark.django_db
def test_invalid_choice_names_field(project):
    make_item(project, kind="thumb")
    annotator = annotator_for_user(UserFactory())
    lease = assignment_next(project=project, annotator=annotator)
    with pytest.raises(ValidationError) as err:
        annotation_submit(
            assignment=lease, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=uuid.uuid4()
        )
    assert "choice" in err.value.message_dict
    assert Item.objects.get().annotation_count == 0


@pytest.mark.django_db
def test_an_idempotency_key_reused_for_another_item_is_refused(project):
    make_item(project)
    make_item(project)
    annotator = annotator_for_user(UserFactory())
    key = uuid.uuid4()
    first = assignment_next(project=project, annotator=annotator)
    annotation_submit(assignment=first, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=key)
    second = assignment_next(project=project, annotator=annotator)
    assert second.item_id != first.item_id
    with pytest.raises(ValidationError) as err:
        annotation_submit(assignment=second, annotator=annotator, data=AnnotationInput(choice="B"), idempotency_key=key)
    assert "idempotency_key" in err.value.message_dict
    assert Annotation.objects.count() == 1
    second.refresh_from_db()
    assert second.status == Assignment.Status.LEASED


@pytest.mark.django_db
@pytest.mark.parametrize("randomize", [False, True])
def test_display_order_is_canonical_or_shuffled(project, randomize):
    project.randomize_order = randomize
    project.overlap = 1
    project.save()
    items = [make_item(project, kind="ranking", n_responses=4) for _ in range(12)]
    annotator = annotator_for_user(UserFactory())
    orders = []
    for item in items:
        lease = assignment_next(project=project, annotator=annotator)
        canonical = [str(r.uuid) for r in item.ordered_responses()]
        assert lease.item_id == item.pk and sorted(lease.display_order) == sorted(canonical)
        assert Assignment.objects.get(pk=lease.pk).display_order == lease.display_order
        orders.append(lease.display_order == canonical)
        assignment_skip(assignment=lease, annotator=annotator)
    # 12 shuffles of 4 all coming out canonical: (1/24)**12.
    assert all(orders) if not randomize else not all(orders)
