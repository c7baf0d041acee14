"""Adaptive overlap: items whose agreement stays under ``agreement_threshold``
after ``overlap`` judgments are handed out again, up to ``max_overlap``."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from annotate.models import Annotation, Item, Kind
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import assignment_next
from curation.consensus import majority_share
from tests.annotate.test_concurrency import bulk_items, make_annotators, run_threads
from tests.factories import ProjectFactory, make_item

# The measures themselves: tests/curation/test_consensus.py.


# Through the services ---------------------------------------------------------------


def people(n: int):
    return make_annotators(n)


def judge(project, annotator, data: AnnotationInput):
    lease = assignment_next(project=project, annotator=annotator)
    if lease is None:
        return None
    annotation_record(assignment=lease, annotator=annotator, data=data, idempotency_key=uuid.uuid4())
    lease.item.refresh_from_db()
    return lease.item


@pytest.mark.django_db
def test_disagreement_raises_the_target_up_to_max_overlap():
    project = ProjectFactory(overlap=2, max_overlap=4, agreement_threshold=0.75)
    item = make_item(project)
    annotators = people(5)
    # A, B: share 1/2 < 0.75 -> a third judgment is wanted.
    judge(project, annotators[0], AnnotationInput(choice="A"))
    item = judge(project, annotators[1], AnnotationInput(choice="B"))
    assert (item.status, item.target_overlap, item.annotation_count) == ("open", 3, 2)
    # A, B, A: 2/3 < 0.75 -> a fourth.
    item = judge(project, annotators[2], AnnotationInput(choice="A"))
    assert (item.status, item.target_overlap, item.annotation_count) == ("open", 4, 3)
    # Four is the maximum: done whatever the agreement (A, B, A, B = 1/2).
    item = judge(project, annotators[3], AnnotationInput(choice="B"))
    assert (item.status, item.target_overlap, item.annotation_count, item.slots_taken) == ("done", 4, 4, 4)
    assert assignment_next(project=project, annotator=annotators[4]) is None


@pytest.mark.django_db
def test_agreement_at_the_target_closes_the_item():
    project = ProjectFactory(overlap=2, max_overlap=4, agreement_threshold=0.75)
    make_item(project)
    first, second, third = people(3)
    judge(project, first, AnnotationInput(choice="A"))
    item = judge(project, second, AnnotationInput(choice="A"))
    assert (item.status, item.target_overlap, item.annotation_count) == ("done", 0, 2)
    assert assignment_next(project=project, annotator=third) is None


@pytest.mark.django_db
def test_a_third_judgment_that_settles_it_closes_the_item():
    project = ProjectFactory(overlap=2, max_overlap=5, agreement_threshold=0.6)
    make_item(project, kind="thumb")
    annotators = people(4)
    judge(project, annotators[0], AnnotationInput(choice="up"))
    judge(project, annotators[1], AnnotationInput(choice="down"))
    item = judge(project, annotators[2], AnnotationInput(choice="up"))  # 2/3 >= 0.6
    assert (item.status, item.target_overlap, item.annotation_count) == ("done", 3, 3)
    assert assignment_next(project=project, annotator=annotators[3]) is None


@pytest.mark.django_db
def test_rankings_use_kendall_agreement():
    project = ProjectFactory(overlap=2, max_overlap=3, agreement_threshold=0.9)
    item = make_item(project, kind="ranking", n_responses=3)
    a, b, c = [str(u) for u in item.links.values_list("response__uuid", flat=True)]
    first, second, third = people(3)
    judge(project, first, AnnotationInput(ranking=[[a], [b], [c]]))
    item = judge(project, second, AnnotationInput(ranking=[[a], [c], [b]]))  # 2/3 < 0.9
    assert (item.status, item.target_overlap) == ("open", 3)
    item = judge(project, third, AnnotationInput(ranking=[[a], [b], [c]]))
    assert (item.status, item.annotation_count) == ("done", 3)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("max_overlap", "threshold", "kind"), [(2, 0.9, "pairwise"), (4, 0.0, "pairwise"), (4, 0.9, "judgment")]
)
def test_off_without_room_threshold_or_measure(max_overlap, threshold, kind):
    project = ProjectFactory(overlap=2, max_overlap=max_overlap, agreement_threshold=threshold)
    make_item(project, kind=kind)
    annotators = people(3)
    data = [AnnotationInput(choice="A"), AnnotationInput(choice="B")]
    if kind == "judgment":
        data = [AnnotationInput(critique="good"), AnnotationInput(critique="bad")]
    judge(project, annotators[0], data[0])
    item = judge(project, annotators[1], data[1])
    assert (item.status, item.target_overlap, item.annotation_count) == ("done", 0, 2)
    assert assignment_next(project=project, annotator=annotators[2]) is None


@pytest.mark.django_db
def test_judge_annotations_do_not_sway_agreement():
    from annotate.models import Annotator

    project = ProjectFactory(overlap=2, max_overlap=3, agreement_threshold=0.75)
    item = make_item(project)
    judge_annotator = Annotator.objects.create(type=Annotator.Type.MODEL, name="j", model_name="m")
    for _ in range(1):
        annotation_record(item=item, annotator=judge_annotator, data=AnnotationInput(choice="B"))
    first, second = people(2)
    judge(project, first, AnnotationInput(choice="A"))
    item = judge(project, second, AnnotationInput(choice="A"))
    # Humans agree (A, A); the judge's B is not counted.
    assert (item.status, item.annotation_count) == ("done", 2)


# Under concurrency (PostgreSQL) ------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_never_exceed_max_overlap():
    overlap, max_overlap, threshold = 2, 5, 0.7
    project = ProjectFactory(overlap=overlap, max_overlap=max_overlap, agreement_threshold=threshold, lease_seconds=600)
    bulk_items(project, 40, kinds=(Kind.PAIRWISE, Kind.THUMB))
    annotators = make_annotators(16)

    def work(i: int, barrier: threading.Barrier) -> int:
        annotator, rng = annotators[i], random.Random(i)
        barrier.wait()
        done = 0
        while True:
            lease = assignment_next(project=project, annotator=annotator)
            if lease is None:
                # A raised target may free a slot after this annotator found nothing: wait for the rest.
                unseen = Item.objects.filter(project=project, status=Item.Status.OPEN).exclude(
                    assignments__annotator=annotator
                )
                if not unseen.exists():
                    break
                time.sleep(0.02)
                continue
            # Mostly the first option, so some items settle early and others do not.
            if lease.item.kind == Kind.PAIRWISE:
                choice = "A" if rng.random() < 0.5 else rng.choice(["B", "tie"])
            else:
                choice = "up" if rng.random() < 0.5 else "down"
            annotation_record(
                assignment=lease, annotator=annotator, data=AnnotationInput(choice=choice), idempotency_key=uuid.uuid4()
            )
            done += 1
        return done

    submitted = sum(run_threads(len(annotators), work))
    assert submitted == Annotation.objects.count()
    counts = []
    for item in Item.objects.filter(project=project):
        choices = list(Annotation.objects.filter(item=item).order_by("id").values_list("choice", flat=True))
        n = len(choices)
        counts.append(n)
        assert overlap <= n <= max_overlap
        assert item.status == Item.Status.DONE
        assert item.annotation_count == item.slots_taken == n
        assert item.target_overlap == (n if n > overlap else 0)
        if n < max_overlap:
            # It stopped because the n judgments agreed enough.
            assert majority_share(choices) >= threshold
    # Not a trivial run: some items were extended, some to the maximum, some not at all.
    assert min(counts) == overlap and max(counts) == max_overlap
    assert any(overlap < n < max_overlap for n in counts)
