"""Probes: hidden repeats (half of the pairwise ones A/B-swapped) injected into
each annotator's queue at ``Project.probe_rate``.

Annotator and item uuids are fixed, so the per-(annotator, item) hash draw,
and with it every run of these tests, is the same.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotate.models import Annotation, Annotator, Assignment, Item, Kind
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import PROBE_GAP, assignment_next
from tests.annotate.test_concurrency import bulk_items
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def fixed_items(project, n: int, kinds=(Kind.PAIRWISE,)) -> list[Item]:
    """``n`` items with fixed uuids (``UUID(int=1000 + i)``), cycling through ``kinds``."""
    return bulk_items(project, n, kinds=kinds, uuid_base=1000)


def fixed_annotator(number: int) -> Annotator:
    user = get_user_model().objects.create(username=f"probe-tester-{number}", password="!")
    return Annotator.objects.create(user=user, name=user.username, uuid=uuid.UUID(int=number))


def answer(item: Item) -> AnnotationInput:
    if item.kind == Kind.PAIRWISE:
        return AnnotationInput(choice="A")
    if item.kind == Kind.THUMB:
        return AnnotationInput(choice="up")
    return AnnotationInput(ranking=[[str(u)] for u in item.links.values_list("response__uuid", flat=True)])


def drain(project, annotator) -> list[Assignment]:
    """Lease and submit until nothing is left; the leases in the order they came."""
    leases = []
    while (lease := assignment_next(project=project, annotator=annotator)) is not None:
        leases.append(lease)
        annotation_record(assignment=lease, annotator=annotator, data=answer(lease.item), idempotency_key=uuid.uuid4())
    return leases


@pytest.fixture
def run():
    """One annotator draining 300 items (pairwise, thumb, ranking) at probe_rate 0.2."""
    project = ProjectFactory(overlap=2, probe_rate=0.2, randomize_order=True)
    items = fixed_items(project, 300, kinds=(Kind.PAIRWISE, Kind.PAIRWISE, Kind.THUMB, Kind.RANKING))
    annotator = fixed_annotator(7)
    leases = drain(project, annotator)
    return project, items, annotator, leases


def test_probes_are_made_at_the_configured_rate(run):
    project, items, annotator, _leases = run
    probes = Item.objects.filter(project=project, probe_of__isnull=False)
    # 300 draws at p = 0.2: 60 expected, sd 6.9; this fixed run must fall within 3 sd.
    assert 40 <= probes.count() <= 80
    assert set(probes.values_list("probe_for", flat=True)) == {annotator.pk}
    # One probe per original at most, and never a probe of a probe.
    assert probes.values("probe_of").distinct().count() == probes.count()
    assert not probes.filter(probe_of__probe_of__isnull=False).exists()
    # About half of the pairwise probes are swapped; others never are.
    pairwise = probes.filter(kind=Kind.PAIRWISE)
    assert 0.25 <= pairwise.filter(probe_swapped=True).count() / pairwise.count() <= 0.75
    assert not probes.exclude(kind=Kind.PAIRWISE).filter(probe_swapped=True).exists()


def test_the_draw_depends_on_annotator_and_item_only(run):
    project, items, annotator, _leases = run
    drawn = set(Item.objects.filter(project=project, probe_of__isnull=False).values_list("probe_of__uuid", flat=True))
    # sha256("docket-probe:<annotator uuid>:<item uuid>"): first 8 bytes as a fraction of 2**64.
    expected = set()
    for item in items:
        digest = hashlib.sha256(f"docket-probe:{annotator.uuid}:{item.uuid}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 < project.probe_rate:
            expected.add(item.uuid)
    assert drawn == expected


def test_probes_never_come_back_to_back_and_all_due_ones_are_handed_out(run):
    project, _items, annotator, leases = run
    order = [lease.item_id for lease in leases]
    position = {item_id: i for i, item_id in enumerate(order)}
    probes = Item.objects.filter(project=project, probe_for=annotator)
    served = [p for p in probes if p.pk in position]
    assert served, "no probe was handed out"
    for probe in served:
        # At least PROBE_GAP other items between the original and its repeat.
        assert position[probe.pk] - position[probe.probe_of_id] > PROBE_GAP
    # Only probes of the very last items can be left over (no more items to put in between).
    left_over = [p.probe_of_id for p in probes if p.pk not in position]
    assert all(position[original] >= len(order) - PROBE_GAP - len(left_over) for original in left_over)
    assert len(left_over) <= PROBE_GAP


def test_probes_do_not_count_towards_the_original(run):
    project, _items, annotator, _leases = run
    for probe in Item.objects.filter(project=project, probe_for=annotator, assignments__isnull=False):
        assert probe.status == Item.Status.DONE and probe.annotation_count == 1
        original = probe.probe_of
        # The original got one judgment (this annotator's), its overlap is 2: still open for someone else.
        assert original.annotation_count == 1 and original.status == Item.Status.OPEN
        assert original.annotations.count() == 1


def test_swapped_probes_show_the_original_screen_reversed(run):
    project, _items, annotator, _leases = run
    checked = {True: 0, False: 0}
    for probe in Item.objects.filter(project=project, probe_for=annotator, assignments__isnull=False):
        shown = Assignment.objects.get(item=probe, annotator=annotator).display_order
        original = Assignment.objects.get(item_id=probe.probe_of_id, annotator=annotator).display_order
        assert shown == (original[::-1] if probe.probe_swapped else original)
        checked[probe.probe_swapped] += 1
    assert checked[True] and checked[False]


def test_no_probes_at_rate_zero(db):
    project = ProjectFactory(overlap=1, probe_rate=0)
    fixed_items(project, 40)
    drain(project, fixed_annotator(7))
    assert not Item.objects.filter(probe_of__isnull=False).exists()


# Through the pages -------------------------------------------------------------

ITEM_SECTION = re.compile(r'<section id="item".*?</section>', re.S)
VOLATILE = [
    (re.compile(r'data-assignment="[0-9a-f-]+"'), 'data-assignment="X"'),
    (re.compile(r"/annotate/[0-9a-f-]{36}/"), "/annotate/X/"),
    (re.compile(r'name="idempotency_key" value="[0-9a-f-]+"'), 'name="idempotency_key" value="X"'),
    (re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"'), 'name="csrfmiddlewaretoken" value="X"'),
    (re.compile(r'<p class="flash[^>]*>.*?</p>', re.S), ""),
]
ARTICLE = re.compile(r"<article\b.*?</article>", re.S)


def normalise(html: str) -> str:
    for pattern, replacement in VOLATILE:
        html = pattern.sub(replacement, html)
    return html


def test_probe_pages_look_like_any_other_and_store_canonical_choices(client):
    project = ProjectFactory(overlap=1, probe_rate=0.5, randomize_order=True)
    fixed_items(project, 40)
    user = get_user_model().objects.create(username="probe-page-tester", password="!")
    annotator = Annotator.objects.create(user=user, name=user.username, uuid=uuid.UUID(int=3))
    MembershipFactory(project=project, user=user, role="annotator")
    client.force_login(user)

    pages: dict[int, str] = {}  # item id -> its #item section
    response = client.get(reverse("annotate-next", args=[project.slug]), **HTMX)
    while 'data-assignment="' in response.content.decode():
        html = response.content.decode()
        section = ITEM_SECTION.search(html).group(0)
        assert "probe" not in html.lower()
        assignment_uuid = re.search(r'data-assignment="([0-9a-f-]+)"', section).group(1)
        key = re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', section).group(1)
        assignment = Assignment.objects.get(uuid=assignment_uuid)
        pages[assignment.item_id] = section
        # Always the left-hand response, whatever it is.
        response = client.post(
            reverse("annotate-submit", args=[project.slug, assignment_uuid]),
            {"idempotency_key": key, "choice": "left"},
            **HTMX,
        )
        assert response.status_code == 200

    probes = list(Item.objects.filter(project=project, probe_for=annotator, pk__in=pages))
    assert {p.probe_swapped for p in probes} == {True, False}
    flip = {"A": "B", "B": "A"}
    for probe in probes:
        original_page, probe_page = normalise(pages[probe.probe_of_id]), normalise(pages[probe.pk])
        original_choice = Annotation.objects.get(item_id=probe.probe_of_id, annotator=annotator).choice
        probe_annotation = Annotation.objects.get(item=probe, annotator=annotator)
        if probe.probe_swapped:
            # Same page with the two responses the other way round; "left" now
            # means the other response, stored canonically as the other letter.
            assert ARTICLE.sub("", probe_page) == ARTICLE.sub("", original_page)
            original_sides = re.findall(r'data-response="([0-9a-f-]+)"', original_page)
            assert re.findall(r'data-response="([0-9a-f-]+)"', probe_page) == original_sides[::-1]
            assert probe_annotation.choice == flip[original_choice]
        else:
            assert probe_page == original_page
            assert probe_annotation.choice == original_choice
        assert probe_annotation.display_order == Assignment.objects.get(item=probe).display_order
