"""The judge's calibration card (curation.judging.selectors): position consistency and agreement with the
people's consensus, in the judge job's result, on its job page and in the audit's annotators dashboard."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.models import Annotator
from curation.judging.selectors import human_pairwise_consensus, judge_calibration
from tests.exports.db_builders import annotate, human, judge
from tests.factories import make_item

from .test_judging import judge as run_judge
from .test_judging import pair_result, scripted_judge  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("no_heartbeat_thread")


def labelled(project, n: int) -> list:
    """``n`` pairwise items that two people both answered A."""
    people = [human("p1"), human("p2")]
    items = [make_item(project, "pairwise", texts=[f"answer {i}", f"other {i}"]) for i in range(n)]
    for item in items:
        for person in people:
            annotate(item, person, "A")
    return items


def test_consensus_is_the_peoples_majority_and_a_resolution_overrides_it(project):
    items = labelled(project, 3)
    bot = judge()
    annotate(items[0], bot, "B")  # a judge's vote is not a person's
    split = make_item(project, "pairwise", texts=["x", "y"])
    annotate(split, human("p3"), "A")
    annotate(split, human("p4"), "B")
    resolved = make_item(project, "pairwise", texts=["u", "v"], resolution={"choice": "B"})
    got = human_pairwise_consensus(project=project)
    assert got == {items[0].pk: "A", items[1].pk: "A", items[2].pk: "A", resolved.pk: "B"}


def test_imported_labels_are_people_in_the_consensus(project):
    """docs/algorithms.md#who-votes: an imported set's labels count like a person's."""
    source = Annotator.objects.create(type=Annotator.Type.IMPORTED, name="hh-rlhf")
    item = make_item(project, "pairwise", texts=["kept", "dropped"])
    annotate(item, source, "B")
    annotate(item, judge(), "A", consistent=True)
    assert human_pairwise_consensus(project=project) == {item.pk: "B"}


def test_card_counts_consistency_and_agreement(project, scripted_judge):  # noqa: F811
    labelled(project, 13)
    unlabelled = make_item(project, "pairwise", texts=["free", "text"])
    for i in (8, 9):  # consistent, but against the people
        scripted_judge.pairs[(f"answer {i}", f"other {i}")] = pair_result("B", "B")
    for i in range(8):
        scripted_judge.pairs[(f"answer {i}", f"other {i}")] = pair_result("A", "A")
    for i in (10, 11):
        scripted_judge.pairs[(f"answer {i}", f"other {i}")] = pair_result("A", "A")
    scripted_judge.pairs[("answer 12", "other 12")] = pair_result("A", "B")  # position bias
    scripted_judge.pairs[("free", "text")] = pair_result("A", "A")
    job = run_judge(project)
    card = job.result["calibration"]
    assert card["pairwise"] == 14 and card["consistent"] == 13
    assert card["position_consistency"] == pytest.approx(13 / 14, abs=1e-4)
    assert (card["labelled_by_people"], card["compared"], card["agreed"]) == (13, 12, 10)
    assert card["human_agreement"] == pytest.approx(10 / 12, abs=1e-4)
    assert card["inconsistent_on_consensus"] == 1
    assert card["verdict"] == "usable"
    assert ": usable: consistent on 93% of pairs, agrees with people on 83% of 12 items" in job.log_tail
    assert unlabelled.pk  # judged, counted in consistency, not compared


def test_position_biased_judge_is_too_weak(project, scripted_judge):  # noqa: F811
    items = labelled(project, 10)
    for i in range(10):  # consistent on 3 of 10: prefers whatever is shown first on the rest
        scripted_judge.pairs[(f"answer {i}", f"other {i}")] = pair_result("A", "A" if i < 3 else "B")
    job = run_judge(project)
    card = job.result["calibration"]
    assert card["position_consistency"] == pytest.approx(0.3) and card["verdict"] == "too weak"
    assert "position bias" in card["reason"]
    few = judge_calibration(project=project, annotator=Annotator.objects.get(type="model"))
    assert few == card
    assert items


def test_card_on_the_job_page_and_in_the_audit(client, personas, project, scripted_judge, settings):  # noqa: F811
    labelled(project, 10)
    job = run_judge(project)
    client.force_login(personas["curator"])
    page = client.get(reverse("jobs:detail", args=[project.slug, job.uuid]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="judge-card' in html and "Position consistency" in html and "Agreement with people" in html
    from curation.audit.services import audit_create

    audit_job = audit_create(project=project, user=None, params={}, enqueue=False)
    from curation.jobs.runner import run_job

    assert run_job(audit_job.pk).status == "succeeded"
    dashboard = client.get(reverse("audit:annotators", args=[project.slug]))
    assert dashboard.status_code == 200 and 'id="judges"' in dashboard.content.decode()
    assert "judge-card" in dashboard.content.decode()
    client.force_login(personas["outsider"])
    assert client.get(reverse("jobs:detail", args=[project.slug, job.uuid])).status_code == 404
