"""The audit's questions dashboards (/p/<slug>/curate/audit/questions/): access per role, what they
draw from the stored audit, the drill-down to an item, and unknown or unmeasured questions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from annotate.models import Answer
from curation.models import Audit
from curation.projects.questions import question_add
from tests.audit.helpers import annotate, human, run_audit
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.django_db

LABELS = [[["violence"], [], ["hate"]], [["violence"], ["hate"], ["hate"]], [["violence", "hate"], [], []]]


@pytest.fixture
def world(project, personas):
    owner = UserFactory(username="qp-owner")
    hazard = question_add(project=project, user=owner, spec={"key": "hazard", "type": "multi_label",
                          "label": "Hazard categories", "options": [{"value": "violence", "label": "Violence"},
                                                                    {"value": "hate", "label": "Hate speech"}]})  # fmt: skip
    helpful = question_add(project=project, user=owner, spec={"key": "helpful", "type": "rating",
                           "label": "Helpfulness", "scale": 5})  # fmt: skip
    question_add(project=project, user=owner, spec={"key": "note", "type": "text", "label": "Note"})
    people = [human(f"qp{i}") for i in range(3)]
    items = [make_item(project, "pairwise") for _ in range(3)]
    for r, person in enumerate(people):
        for u, item in enumerate(items):
            annotation = annotate(item, person, "A")
            Answer.objects.create(annotation=annotation, question=hazard, version=hazard.current,
                                  type="multi_label", labels=LABELS[r][u])  # fmt: skip
            Answer.objects.create(annotation=annotation, question=helpful, version=helpful.current,
                                  type="rating", rating=[4, 2, 5][u] if r else 3)  # fmt: skip
    return {"project": project, "personas": personas, "items": items, "audit": run_audit(project, n_boot=50)}


def url(world, name="questions", **extra):
    return reverse(f"audit:{name}", kwargs={"slug": world["project"].slug, **extra})


def login(world, who="curator") -> Client:
    client = Client()
    client.force_login(world["personas"][who])
    return client


ACCESS = {"owner": 200, "curator": 200, "annotator": 404, "researcher": 404, "outsider": 404}


@pytest.mark.parametrize("page", ["questions", "question"])
def test_question_pages_are_for_curators_and_owners_only(world, page):
    target = url(world, page, **({"key": "hazard"} if page == "question" else {}))
    got = {who: login(world, who).get(target) for who in ACCESS}
    assert {who: r.status_code for who, r in got.items()} == ACCESS
    for who, want in ACCESS.items():
        if want == 404:
            assert world["project"].name.encode() not in got[who].content, who
            assert b"Hazard categories" not in got[who].content, who
    anonymous = Client().get(target)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


def test_questions_overview_lists_every_question_with_alpha(world):
    page = login(world).get(url(world)).content.decode()
    entries = {e["key"]: e for e in world["audit"].summary["questions"]["entries"]}
    assert 'id="questions-plot"' in page and "<svg" in page
    assert f"{entries['hazard']['alpha']['alpha']:.3f}" in page and "MASI" in page
    assert f"{entries['helpful']['alpha']['alpha']:.3f}" in page and "interval" in page
    assert 'data-question="note"' in page  # free text listed, not measured
    assert url(world, "question", key="hazard") in page
    assert 'aria-current="page">Questions</a>' in page


def test_question_page_draws_categories_annotators_and_split_items(world):
    page = login(world).get(url(world, "question", key="hazard")).content.decode()
    entry = next(e for e in world["audit"].summary["questions"]["entries"] if e["key"] == "hazard")
    for plot in ("distribution-plot", "rate-plot", "category-alpha-plot", "question-annotator-plot"):
        assert f'id="{plot}"' in page, plot
    assert 'data-category="violence"' in page and "Hate speech" in page
    hate = next(c for c in entry["categories"] if c["value"] == "hate")
    assert f"{hate['rate']:.3f}" in page  # 4 of 9 answers
    assert hate["n_labelled"] == 4
    assert f"{entry['alpha_jaccard']['alpha']:.3f}" in page
    for person in ("qp0", "qp1", "qp2"):
        assert person in page
    # The drill-down: the item whose answers split most opens on the audit's item page.
    first = entry["top_split"][0]
    assert reverse("audit:item", kwargs={"slug": world["project"].slug, "item_uuid": first["item"]}) in page
    drill = login(world).get(reverse("audit:item", kwargs={"slug": world["project"].slug, "item_uuid": first["item"]}))
    assert drill.status_code == 200
    body = drill.content.decode()
    # Every judgment's answers are on the drill-down (docs/algorithms.md#question-agreement).
    u = next(i for i, item in enumerate(world["items"]) if str(item.uuid) == first["item"])
    for r in range(3):
        labels = ", ".join(LABELS[r][u]) or "none"
        assert f"hazard: {labels}" in body
    assert "helpful: " in body


def test_text_and_unknown_questions(world):
    page = login(world).get(url(world, "question", key="note")).content.decode()
    assert 'id="question-reason"' in page and "free text has no agreement measure" in page
    assert login(world).get(url(world, "question", key="nope")).status_code == 404


def test_before_any_question_audit(project, personas):
    world = {"project": project, "personas": personas}
    page = login(world).get(url(world)).content.decode()
    assert 'id="question-agreement"' not in page  # no audit yet: the status box says so
    Audit.objects.create(project=project, summary={"version": 1})  # an audit stored before custom questions
    page = login(world).get(url(world)).content.decode()
    assert 'id="questions-old"' in page
    assert login(world).get(url(world, "question", key="hazard")).status_code == 404
