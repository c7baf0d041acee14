import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db.models import prefetch_related_objects

from annotate.models import Annotation, Assignment, Item
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import annotator_for_user, assignment_next, assignment_skip
from tests.factories import UserFactory, make_item


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
    a1, created1 = annotation_record(
        assignment=lease, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=key
    )
    a2, created2 = annotation_record(
        assignment=lease, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=key
    )
    a3, created3 = annotation_record(
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
        annotation_record(
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
    annotation_record(assignment=first, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=key)
    second = assignment_next(project=project, annotator=annotator)
    assert second.item_id != first.item_id
    with pytest.raises(ValidationError) as err:
        annotation_record(assignment=second, annotator=annotator, data=AnnotationInput(choice="B"), idempotency_key=key)
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


def _stored(annotation: Annotation, item: Item) -> dict:
    """The stored row, with the item's response uuids as canonical positions (the two items differ)."""
    row = Annotation.objects.filter(pk=annotation.pk).values().get()
    for name in ("id", "uuid", "assignment_id", "item_id", "annotator_id", "idempotency_key", "created_at"):
        row.pop(name)
    position = {u: i for i, u in enumerate(item.response_uuids())}
    row["display_order"] = [position[u] for u in row["display_order"]]
    if row["ranking"]:
        row["ranking"] = [[position[u] for u in group] for group in row["ranking"]]
    row["verdicts"] = sorted(annotation.verdicts.values_list("principle__name", "verdict"))
    return row


def _submit_counting_statements(lease, annotator, data) -> tuple:
    """Submit; ``(annotation, created, statements run)`` with savepoints left out."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        annotation, created = annotation_record(
            assignment=lease, annotator=annotator, data=data, idempotency_key=uuid.uuid4()
        )
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    return annotation, created, statements


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("pairwise", {"choice": "B", "strength": 3, "rationale": "  tidier  ", "time_spent_ms": 4200}),
        ("ranking", {"ranking": "reversed", "time_spent_ms": 10}),
        ("judgment", {"critique": " wrong sum ", "corrected_response": "4"}),
        ("thumb", {"choice": "down"}),
    ],
)
def test_the_one_statement_submit_and_the_general_one_store_the_same_annotation(project, kind, data):
    """The one-statement submit writes what the general path writes: every column, the verdicts, the item's count.

    The general path is what a project with adaptive overlap takes (here with
    room for no more judgments: ``max_overlap`` 2 and an overlap of 1, one
    judgment agrees with itself), so both end with a done item.
    """
    from curation.projects.services import principle_add

    principles = [principle_add(project=project, name=n, user=None) for n in ("honest", "brief")]  # with versions
    project.overlap, project.randomize_order = 1, False  # one item each, shown in canonical order
    project.save(update_fields=["overlap", "randomize_order"])
    stored = []
    for path in ("one statement", "general"):
        if path == "general":
            project.max_overlap, project.agreement_threshold = 2, 0.5
            project.save(update_fields=["max_overlap", "agreement_threshold"])
        item = make_item(project, kind=kind)
        annotator = annotator_for_user(UserFactory())
        lease = assignment_next(project=project, annotator=annotator)
        assert lease.item == item
        # as the submit's lease lookup leaves them (a person's submit reads the questions: required ones)
        prefetch_related_objects([lease.item.project], "principles", "questions")
        values = dict(data)
        if values.get("ranking") == "reversed":
            values["ranking"] = [[u] for u in reversed(item.response_uuids())]
        verdicts = {principles[0].pk: "A", principles[1].pk: "neither"}
        annotation, created, statements = _submit_counting_statements(
            lease, annotator, AnnotationInput(**values, verdicts=verdicts)
        )
        assert (len(statements) == 1) == (path == "one statement"), statements
        assert created and annotation.pk and annotation.created_at
        item.refresh_from_db()
        lease.refresh_from_db()
        assert (item.annotation_count, item.status, lease.status) == (1, "done", "submitted")
        stored.append(_stored(annotation, item))
    assert stored[0] == stored[1]
    assert stored[0]["verdicts"] == [("brief", "neither"), ("honest", "A")]


@pytest.mark.django_db
def test_the_submit_is_one_statement_and_marks_the_item_done_at_overlap(project):
    item = make_item(project)  # overlap 2
    people = [annotator_for_user(UserFactory()) for _ in range(2)]
    leases = [assignment_next(project=project, annotator=a) for a in people]
    for n, (lease, annotator) in enumerate(zip(leases, people, strict=True), start=1):
        prefetch_related_objects([lease.item.project], "questions")  # as the submit's lease lookup leaves them
        _annotation, _created, statements = _submit_counting_statements(lease, annotator, AnnotationInput(choice="A"))
        assert len(statements) == 1, statements
        item.refresh_from_db()
        assert (item.annotation_count, item.status) == (n, "open" if n < 2 else "done")


@pytest.mark.django_db
def test_the_claim_looks_past_the_item_just_finished_then_from_the_start(project):
    """``after`` only changes where the scan starts: an item given back below it is still handed out."""
    first, second, third = (make_item(project) for _ in range(3))
    alice, bob = (annotator_for_user(UserFactory()) for _ in range(2))
    bobs = assignment_next(project=project, annotator=bob)
    assert bobs.item == first
    # Alice finishes the second item; the first is taken by Bob's lease for now (overlap 2: one slot left).
    lease = Assignment.objects.create(
        item=second, annotator=alice, status="submitted", leased_at=bobs.leased_at, expires_at=bobs.expires_at
    )
    # Past the second item first: the third, although the first is older and has a free slot.
    assert assignment_next(project=project, annotator=alice, after=lease.item_id).item == third
    annotation_record(
        assignment=Assignment.objects.get(annotator=alice, item=third),
        annotator=alice,
        data=AnnotationInput(choice="A"),
        idempotency_key=uuid.uuid4(),
    )
    # Nothing past the third: from the start, the first.
    assert assignment_next(project=project, annotator=alice, after=third.pk).item == first
