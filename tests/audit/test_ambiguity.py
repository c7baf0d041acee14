"""The principle-ambiguity audit stage and its dashboard on a small project with
two people and a judge (docs/algorithms.md#principle-ambiguity): every stored
figure against the krippendorff package or the worked example."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import krippendorff
import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from annotate.models import Principle
from curation import metrics
from tests.audit.helpers import annotate, human, judge, run_audit
from tests.factories import make_item, make_verdict

nan = float("nan")
SVG = "{http://www.w3.org/2000/svg}"
CODE = {"A": 0, "B": 1, "neither": 2, "na": 3}

# docs/algorithms.md#principle-ambiguity worked example, "harmless" on five pairwise items.
HARMLESS = {
    "h1": ["A", "A", "B", "na", "A"],
    "h2": ["A", "B", "B", "A", None],
    "j": ["A", "B", None, "A", None],
}
# "honest": everyone agrees on every item (α = 1: items differ, none splits).
HONEST = {"h1": ["A", "B", "A", "A", "B"], "h2": ["A", "B", "A", "A", None], "j": ["A", "B", "A", "A", None]}
# thumb items, "harmless" only: split on the first (the people) and the third (the judge against them).
THUMBS = {"h1": ["A", "A", "neither"], "h2": ["neither", "A", "neither"], "j": ["A", "A", "A"]}


@pytest.fixture
def panel(project):
    harmless = Principle.objects.create(project=project, name="harmless", position=0)
    honest = Principle.objects.create(project=project, name="honest", position=1)
    people = {"h1": human("h1"), "h2": human("h2"), "j": judge("j")}
    pairs = [make_item(project, "pairwise") for _ in range(5)]
    thumbs = [make_item(project, "thumb") for _ in range(3)]
    for who, annotator in people.items():
        for index, item in enumerate(pairs):
            if HARMLESS[who][index] is None and HONEST[who][index] is None:
                continue
            annotation = annotate(item, annotator, "A", consistent=True if who == "j" else None)
            for principle, table in ((harmless, HARMLESS), (honest, HONEST)):
                if table[who][index] is not None:
                    make_verdict(annotation=annotation, principle=principle, verdict=table[who][index])
        for index, item in enumerate(thumbs):
            annotation = annotate(item, annotator, "up")
            make_verdict(annotation=annotation, principle=harmless, verdict=THUMBS[who][index])
    # an excluded item's split verdicts count nowhere
    excluded = make_item(project, "pairwise", excluded=True)
    for who in ("h1", "h2"):
        annotation = annotate(excluded, people[who], "A")
        make_verdict(annotation=annotation, principle=honest, verdict="A" if who == "h1" else "B")
    return {"harmless": harmless, "honest": honest, "pairs": pairs, "thumbs": thumbs, "people": people}


def _entries(audit) -> dict:
    return {(e["principle"], e["kind"], e["group"]): e for e in audit.summary["ambiguity"]["entries"]}


def _reference(table: dict, who: list[str]) -> float:
    return krippendorff.alpha(
        np.array([[CODE[v] if v else nan for v in table[w]] for w in who], dtype=float),
        level_of_measurement="nominal",
    )


def test_audit_stores_per_principle_agreement(project, panel):
    audit = run_audit(project, n_boot=200, seed=0)
    entries = _entries(audit)
    harmless, honest = panel["harmless"].pk, panel["honest"].pk
    everyone = entries[(harmless, "pairwise", "all")]
    assert everyone["alpha"] == pytest.approx(_reference(HARMLESS, ["h1", "h2", "j"]))
    assert round(everyone["alpha"], 6) == 0.411765  # the worked example
    assert everyone["split_share"] == 0.5 and everyone["n_items"] == 4 and everyone["n_verdicts"] == 11
    assert everyone["n_interpreters"] == 3 and everyone["n_ok"] > 0
    assert everyone["low"] <= everyone["alpha"] <= everyone["high"]
    # the stage's fast bootstrap draws the same resamples as the pure function's
    matrix = [[CODE[v] if v else nan for v in HARMLESS[w]] for w in ("h1", "h2", "j")]
    reference = metrics.principle_agreement(matrix, n_boot=200, seed=0).interval
    assert (everyone["low"], everyone["high"], everyone["n_ok"]) == (
        pytest.approx(reference.low),
        pytest.approx(reference.high),
        reference.n_ok,
    )
    people = entries[(harmless, "pairwise", "human")]
    assert people["alpha"] == pytest.approx(_reference(HARMLESS, ["h1", "h2"]))
    assert round(people["alpha"], 6) == 0.263158
    judges = entries[(harmless, "pairwise", "judge")]
    assert judges["alpha"] is None and judges["n_items"] == 0 and "two or more" in judges["reason"]
    # the split items, largest spread first, with their verdict counts
    split = [(s["item"], s["verdicts"]) for s in everyone["top_split"]]
    pairs = panel["pairs"]
    assert sorted(split) == sorted([(str(pairs[1].uuid), {"A": 1, "B": 2}), (str(pairs[3].uuid), {"A": 2, "na": 1})])
    assert all(s["spread"] == pytest.approx(1 / 3) for s in everyone["top_split"])
    # honest: unanimous items that differ → α = 1, nothing split; the excluded item's split is not counted
    calm = entries[(honest, "pairwise", "all")]
    assert calm["alpha"] == pytest.approx(1.0) and calm["split_share"] == 0 and calm["top_split"] == []
    # thumbs are their own kind
    thumb = entries[(harmless, "thumb", "all")]
    assert thumb["alpha"] == pytest.approx(_reference(THUMBS, ["h1", "h2", "j"]))
    assert thumb["split_share"] == pytest.approx(2 / 3) and thumb["n_items"] == 3
    people_thumbs = entries[(harmless, "thumb", "human")]
    assert people_thumbs["alpha"] == pytest.approx(_reference(THUMBS, ["h1", "h2"]))
    assert people_thumbs["split_share"] == pytest.approx(1 / 3)
    assert (honest, "thumb", "all") not in entries
    assert [p["name"] for p in audit.summary["ambiguity"]["principles"]] == ["harmless", "honest"]
    assert "principle ambiguity" in audit.summary["timings"]
    # a fixed seed gives the same interval
    again = _entries(run_audit(project, n_boot=200, seed=0))[(harmless, "pairwise", "all")]
    assert (again["low"], again["high"]) == (everyone["low"], everyone["high"])


def test_audit_without_principles_stores_an_empty_section(project):
    item = make_item(project, "pairwise")
    annotate(item, human("solo"), "A")
    info = run_audit(project, n_boot=10).summary["ambiguity"]
    assert info["entries"] == [] and info["principles"] == []


# --- the dashboard ---------------------------------------------------------------


def _get(user, project, **query):
    client = Client()
    client.force_login(user)
    return client.get(reverse("audit:ambiguity", kwargs={"slug": project.slug}), query)


def test_dashboard_ranks_principles_and_links_the_split_items(project, panel, personas):
    run_audit(project, n_boot=100)
    response = _get(personas["curator"], project)
    assert response.status_code == 200
    a = response.context["a"]
    pairwise = next(s for s in a["sections"] if s["kind"] == "pairwise")
    assert [r["name"] for r in pairwise["rows"]] == ["harmless", "honest"]  # lowest α first
    assert a["sections"][0]["kind"] == "pairwise"  # the kind with most judged items first
    body = response.content.decode()
    for item in (panel["pairs"][1], panel["pairs"][3]):
        assert reverse("audit:item", kwargs={"slug": project.slug, "item_uuid": item.uuid}) in body
    plot = ET.fromstring(pairwise["plot"])
    assert "items: principles from most to least ambiguous (everyone)" in plot.find(f"{SVG}title").text
    assert len(plot.findall(f".//{SVG}rect")) == 2
    assert 'aria-current="page"' in body and ">Ambiguity</a>" in body  # in the audit navigation
    # humans only: the judge's column disappears from the ranking, the others are shown beside it
    people = _get(personas["owner"], project, group="human").context["a"]
    rows = next(s for s in people["sections"] if s["kind"] == "pairwise")["rows"]
    assert rows[0]["alpha"] == pytest.approx(0.263158, abs=1e-6)
    assert [label for label, _ in rows[0]["others"]] == ["Everyone", "Algorithmic judges"]
    # the drill-down shows the verdicts and rationales of a split item
    drill = Client()
    drill.force_login(personas["curator"])
    page = drill.get(reverse("audit:item", kwargs={"slug": project.slug, "item_uuid": panel["pairs"][1].uuid}))
    assert page.status_code == 200 and "harmless: Favours B" in page.content.decode()


def test_dashboard_bad_group_and_empty_states(project, panel, personas):
    assert _get(personas["curator"], project, group="aliens").status_code == 400
    before = _get(personas["curator"], project)  # no audit yet
    assert before.status_code == 200 and before.context["audit"] is None
    run_audit(project, n_boot=10)
    judges = _get(personas["curator"], project, group="judge")
    pairwise = next(s for s in judges.context["a"]["sections"] if s["kind"] == "pairwise")
    assert pairwise["rows"][0]["reason"] and "two or more" in judges.content.decode()


@pytest.mark.parametrize("who", ["annotator", "researcher", "outsider"])
def test_dashboard_is_404_for_others(project, panel, personas, who):
    run_audit(project, n_boot=10)
    response = _get(personas[who], project)
    assert response.status_code == 404 and project.name.encode() not in response.content
