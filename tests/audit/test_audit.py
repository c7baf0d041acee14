"""The audit service on hand-built projects: every stored figure is checked
against a reference package (krippendorff, scikit-learn) or a
hand-worked number from docs/algorithms.md."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from sklearn.metrics import cohen_kappa_score

from annotate.models import Annotator, Principle
from curation import metrics
from curation.audit.params import audit_params_clean
from curation.audit.services import audit_create
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.models import Audit, Job
from tests.audit.helpers import annotate, human, item_with, judge, responses_for, run_audit
from tests.factories import PromptFactory, make_item, make_verdict

nan = float("nan")

# docs/algorithms.md#krippendorff-alpha worked preference example (A=1, B=0 there; canonical choices here).
RATERS = [
    ["A", "A", "B", "A"],
    ["A", "B", "B", "B"],
    ["A", "A", None, "B"],
]


@pytest.fixture
def pairwise_set(project):
    """Three annotators, four pairwise items: the 3 × 4 worked example (α = 1/3)."""
    people = [human(f"rater{i}") for i in range(3)]
    items = [make_item(project, "pairwise") for _ in range(4)]
    for person, row in zip(people, RATERS, strict=True):
        for item, choice in zip(items, row, strict=True):
            if choice:
                annotate(item, person, choice, seconds=10 + len(choice))
    return people, items


def rows_by_item(audit):
    return {row.item_id: row for row in audit.items.all()}


def rows_by_annotator(audit):
    return {row.annotator_id: row for row in audit.annotators.all()}


def test_pairwise_alpha_majority_and_annotators_match_references(project, pairwise_set):
    people, items = pairwise_set
    audit = run_audit(project, n_boot=200)
    reference = krippendorff.alpha(
        reliability_data=[[{"A": 1, "B": 0}.get(c, nan) for c in row] for row in RATERS],
        level_of_measurement="nominal",
    )
    alpha = audit.summary["alpha"]["pairwise"]
    assert alpha["alpha"] == pytest.approx(reference) == pytest.approx(1 / 3)
    assert alpha["level"] == "nominal" and alpha["n_units"] == 4 and alpha["n_ratings"] == 11
    assert alpha["low"] <= alpha["alpha"] <= alpha["high"]
    assert "pairwise_strength" not in audit.summary["alpha"]  # no strengths recorded

    rows = rows_by_item(audit)
    expected = [("A", 1.0), ("A", 2 / 3), ("B", 1.0), ("B", 2 / 3)]
    for item, (choice, share) in zip(items, expected, strict=True):
        row = rows[item.pk]
        assert row.consensus["choice"] == choice and row.consensus["method"] == "majority"
        assert row.majority_share == pytest.approx(share)
        assert row.disagreement == pytest.approx(1 - share)
        responses = item.ordered_responses()
        winner, loser = (responses[0], responses[1]) if choice == "A" else (responses[1], responses[0])
        assert (row.chosen_id, row.rejected_id) == (winner.pk, loser.pk)
    entropy = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert rows[items[1].pk].entropy == pytest.approx(entropy)  # 0.918 bits
    assert rows[items[0].pk].entropy == 0
    assert rows[items[1].pk].details["votes"] == {"A": 2, "B": 1}
    assert rows[items[2].pk].n_judgments == 2
    assert "low_agreement" not in rows[items[1].pk].flags  # 2/3 ≥ 0.6

    consensus = ["A", "A", "B", "B"]
    by_annotator = rows_by_annotator(audit)
    for person, labels in zip(people, RATERS, strict=True):
        row = by_annotator[person.pk]
        pairs = [(x, c) for x, c in zip(labels, consensus, strict=True) if x]
        assert row.agreement == pytest.approx(sum(x == c for x, c in pairs) / len(pairs))
        ref = cohen_kappa_score([x for x, _ in pairs], [c for _, c in pairs])
        if math.isnan(ref):
            assert row.kappa is None
        else:
            assert row.kappa == pytest.approx(ref)
        assert row.n_annotations == len(pairs)
        assert row.median_seconds == pytest.approx(float(np.median([10 + len(x) for x in labels if x])))
        assert not row.outlier
    assert by_annotator[people[0].pk].kappa == pytest.approx(0.5)  # hand-worked: (3/4 − 1/2) / (1 − 1/2)
    assert audit.summary["consensus"]["pairwise"]["with_consensus"] == 4
    assert audit.summary["counts"]["annotations"] == 11
    assert audit.summary["progress"]["total"] == [11]
    assert audit.summary["progress"]["by_kind"] == {"pairwise": [11]}


def test_resolution_overrides_consensus_and_excluded_items_are_skipped(project, pairwise_set):
    people, items = pairwise_set
    items[0].resolution = {"choice": "B"}
    items[0].save()
    extra = make_item(project, "pairwise", excluded=True)
    for person, choice in zip(people, "ABB", strict=True):
        annotate(extra, person, choice)
    audit = run_audit(project, n_boot=50)
    rows = rows_by_item(audit)
    assert extra.pk not in rows
    assert audit.summary["counts"]["excluded"] == 1 and audit.summary["counts"]["audited"] == 4
    # α is that of the four non-excluded items
    assert audit.summary["alpha"]["pairwise"]["alpha"] == pytest.approx(1 / 3)
    row = rows[items[0].pk]
    assert row.consensus["choice"] == "B" and row.consensus["method"] == "resolution"
    assert "resolved" in row.flags
    assert row.majority_share == 1.0  # the votes themselves are unchanged
    responses = items[0].ordered_responses()
    assert (row.chosen_id, row.rejected_id) == (responses[1].pk, responses[0].pk)
    # annotators are compared with the resolution: everybody said A on item 0
    by_annotator = rows_by_annotator(audit)
    assert by_annotator[people[2].pk].agreement == pytest.approx(2 / 3)
    assert by_annotator[people[0].pk].n_annotations == 5  # the excluded item still counts as work done
    assert audit.summary["consensus"]["pairwise"]["resolved"] == 1


def test_split_vote_has_no_consensus_and_is_flagged(project):
    a, b = human("a"), human("b")
    item = make_item(project, "pairwise")
    annotate(item, a, "A")
    annotate(item, b, "B")
    row = run_audit(project, n_boot=10).items.get()
    assert row.consensus["choice"] is None and row.chosen_id is None
    assert row.majority_share == 0.5 and row.entropy == 1.0
    assert {"no_consensus", "low_agreement"} <= set(row.flags)


def make_probe(original, annotator, *, swapped: bool, reverse_positions: bool = False):
    responses = original.ordered_responses()
    if reverse_positions:
        responses = responses[::-1]
    return item_with(
        original.project, original.kind, responses, probe_of=original, probe_for=annotator, probe_swapped=swapped
    )


def test_swapped_probe_that_flips_is_swap_inconsistent(project):
    alice, bob = human("alice"), human("bob")
    flip = make_item(project, "pairwise")
    keep = make_item(project, "pairwise")
    again = make_item(project, "pairwise")
    for item in (flip, keep, again):
        annotate(item, alice, "A")
        annotate(item, bob, "A")
    # Alice sees `flip` again with the sides swapped and now prefers the other response.
    annotate(make_probe(flip, alice, swapped=True), alice, "B")
    # The same responses stored in the opposite positions: "B" names the same response as before.
    annotate(make_probe(keep, alice, swapped=True, reverse_positions=True), alice, "B")
    # A plain repeat answered the same way.
    annotate(make_probe(again, alice, swapped=False), alice, "A")
    audit = run_audit(project, n_boot=10)
    rows = rows_by_item(audit)
    assert set(rows) == {flip.pk, keep.pk, again.pk}  # probes get no row of their own
    assert rows[flip.pk].n_judgments == 2  # the probe is not a vote
    assert "swap_inconsistent" in rows[flip.pk].flags
    flipped = set(rows[flip.pk].details["swap_inconsistent"])
    assert flipped == {str(a.uuid) for a in alice.annotations.filter(item__in=[flip, flip.probes.get()])}
    assert "swap_inconsistent" not in rows[keep.pk].flags
    assert rows[again.pk].details["probes"] == [{"annotator": str(alice.uuid), "swapped": False, "consistent": True}]
    row = rows_by_annotator(audit)[alice.pk]
    assert row.swap_consistency == pytest.approx(0.5)
    assert row.probe_consistency == pytest.approx(2 / 3)
    assert row.details["probes"]["retest"]["n"] == 1 and row.details["probes"]["retest"]["agreement"] == 1.0
    assert audit.summary["consistency"]["swap"] == {"n": 2, "rate": 0.5}
    assert rows_by_annotator(audit)[bob.pk].probe_consistency is None


def test_cycle_is_a_transitivity_violation(project):
    prompt = PromptFactory(project=project)
    r0, r1, r2 = responses_for(prompt, 3)
    alice, bob = human("alice"), human("bob")
    i01 = item_with(project, "pairwise", [r0, r1])
    i12 = item_with(project, "pairwise", [r1, r2])
    i02 = item_with(project, "pairwise", [r0, r2])
    # alice: r0 ≻ r1, r1 ≻ r2, r2 ≻ r0 — a cycle. bob: r0 ≻ r1 ≻ r2 and r0 ≻ r2.
    annotate(i01, alice, "A")
    annotate(i12, alice, "A")
    annotate(i02, alice, "B")
    for item in (i01, i12, i02):
        annotate(item, bob, "A")
    audit = run_audit(project, n_boot=10)
    by_annotator = rows_by_annotator(audit)
    assert by_annotator[alice.pk].transitivity_violations == 1
    assert by_annotator[alice.pk].details["transitivity"] == {"violations": 1, "triads": 1, "prompts": 1}
    assert "intransitive" in by_annotator[alice.pk].flags
    assert by_annotator[bob.pk].transitivity_violations == 0
    rows = rows_by_item(audit)
    for item in (i01, i12, i02):
        assert "transitivity" in rows[item.pk].flags
        assert rows[item.pk].details["intransitive"] == [str(alice.annotations.get(item=item).uuid)]
    assert audit.summary["consistency"]["transitivity"] == {"violations": 1, "triads": 2}


def test_thumbs_contradicting_a_pairwise_choice(project):
    prompt = PromptFactory(project=project)
    good, bad = responses_for(prompt, 2)
    alice = human("alice")
    pair = item_with(project, "pairwise", [good, bad])
    annotate(pair, alice, "A")  # good ≻ bad …
    annotate(item_with(project, "thumb", [good]), alice, "down")  # … yet good gets a thumbs-down
    annotate(item_with(project, "thumb", [bad]), alice, "up")
    audit = run_audit(project, n_boot=10)
    row = rows_by_annotator(audit)[alice.pk]
    assert row.details["thumbs"] == {"contradictions": 1, "comparable": 1}
    assert "thumbs_contradiction" in row.flags and not row.outlier
    assert "thumbs_contradiction" in rows_by_item(audit)[pair.pk].flags
    assert audit.summary["consistency"]["thumbs"] == {"contradictions": 1, "comparable": 1}


def test_thumb_alpha_and_judge_inconsistent_votes_do_not_count(project):
    people = [human(f"t{i}") for i in range(3)]
    verdicts = [["up", "up", "down", "up"], ["up", "down", "down", "up"], ["up", "up", "down", "down"]]
    items = [make_item(project, "thumb") for _ in range(4)]
    for person, row in zip(people, verdicts, strict=True):
        for item, choice in zip(items, row, strict=True):
            annotate(item, person, choice)
    pairs = [make_item(project, "pairwise") for _ in range(2)]
    bot = judge("bot")
    annotate(pairs[0], bot, "tie", consistent=False)  # the judge contradicted itself: not a vote
    annotate(pairs[1], bot, "A", consistent=True)
    annotate(pairs[0], people[0], "B")
    audit = run_audit(project, n_boot=50)
    ref = krippendorff.alpha(
        reliability_data=[[{"up": 1, "down": 0}[c] for c in row] for row in verdicts], level_of_measurement="nominal"
    )
    assert audit.summary["alpha"]["thumb"]["alpha"] == pytest.approx(ref)
    rows = rows_by_item(audit)
    assert rows[pairs[0].pk].n_judgments == 1 and rows[pairs[0].pk].consensus["choice"] == "B"
    bot_row = rows_by_annotator(audit)[bot.pk]
    assert bot_row.n_annotations == 2
    assert bot_row.swap_consistency == 0.5  # the judge's own order check
    assert bot_row.details["judge_order"] == {"n": 2, "rate": 0.5}
    assert bot_row.details["by_kind"]["pairwise"]["n"] == 1
    assert audit.summary["consistency"]["judge_order"] == {"n": 2, "rate": 0.5}


def test_rankings_kendall_w_alpha_and_borda(project):
    people = [human(f"r{i}") for i in range(3)]
    item = make_item(project, "ranking", n_responses=4)
    uuids = [str(r.uuid) for r in item.ordered_responses()]
    # docs/algorithms.md#kendall-w: raters [1,2,3,4], [1,3,2,4], [2,1,3,4] → W = 0.7778
    ranks = [[1, 2, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4]]
    for person, r in zip(people, ranks, strict=True):
        annotate(item, person, ranking=[[uuids[i]] for i in np.argsort(r)])
    audit = run_audit(project, n_boot=50)
    row = audit.items.get()
    assert row.details["kendall_w"] == pytest.approx(0.7778, abs=1e-4)
    # Agreement: pairs of rankings (1,2) 5/6, (1,3) 5/6, (2,3) 4/6 of response pairs alike.
    assert row.n_judgments == 3 and row.majority_share == pytest.approx((5 / 6 + 5 / 6 + 4 / 6) / 3)
    ref = krippendorff.alpha(reliability_data=ranks, level_of_measurement="ordinal")
    assert audit.summary["alpha"]["ranking"]["alpha"] == pytest.approx(ref)
    # Mean Borda = n − mean mid-rank: 4 − (4/3, 2, 8/3, 4).
    assert row.consensus["method"] == "borda"
    assert [row.consensus["scores"][u] for u in uuids] == pytest.approx([8 / 3, 2, 4 / 3, 0])
    assert row.consensus["order"] == [[uuids[0]], [uuids[1]], [uuids[2]], [uuids[3]]]
    # ranking-only annotators: agreement = mean (τ_b + 1) / 2 with the consensus order
    for person, r in zip(people, ranks, strict=True):
        tau = metrics.cream_consistency(-np.array(r, float), -np.array([1, 2, 3, 4], float))
        assert rows_by_annotator(audit)[person.pk].agreement == pytest.approx(tau)


def test_discretion_toy_example(project):
    """docs/algorithms.md#discretion-worked-example: DA 1/2, PS(0,1) = 1/3 (N 3), PS(0,2) = 0, p2 always wins, e0 − e1 = ln ½."""
    principles = [Principle.objects.create(project=project, name=f"p{i}", position=i) for i in range(3)]
    rows = [((1, 1, 0), 1), ((1, -1, 0), 1), ((-1, 1, 1), 1), ((0, 0, 0), -1), ((-1, -1, 0), 1), ((1, -1, -1), -1)]
    alice = human("alice")
    items = []
    for signs, a in rows:
        item = make_item(project, "pairwise")
        annotation = annotate(item, alice, "A" if a > 0 else "B")
        for principle, s in zip(principles, signs, strict=True):
            verdict = {1: "A", -1: "B", 0: "na"}[s]
            make_verdict(annotation=annotation, principle=principle, verdict=verdict)
        items.append(item)
    audit = run_audit(project, n_boot=200, n_boot_priority=20)
    by_item = rows_by_item(audit)
    assert [by_item[i.pk].discretion_category for i in items] == [
        "consensus", "conflict", "conflict", "indifference", "consensus", "conflict",
    ]  # fmt: skip
    info = audit.summary["discretion"]
    assert info["categories"] == {"consensus": 2, "conflict": 3, "indifference": 1, "assessed": 6}
    human_group = info["groups"]["human"]
    assert human_group["arbitrariness"]["estimate"] == 0.5
    assert human_group["supremacy"][0][1] == pytest.approx(1 / 3) and human_group["conflicts"][0][1] == 3
    assert human_group["supremacy"][0][2] == 0 and human_group["conflicts"][0][2] == 2
    priority = human_group["priority"]
    assert priority["status"][2] == "always_wins" and priority["elo"][2] is None
    assert priority["elo"][0] - priority["elo"][1] == pytest.approx(math.log(0.5), abs=1e-4)
    assert priority["rank"] == [3, 2, 1]
    assert rows_by_annotator(audit)[alice.pk].arbitrariness == 0.5
    assert rows_by_annotator(audit)[alice.pk].details["discretion"]["discrepancy_vs_human"] == 0
    assert [p["name"] for p in info["principles"]] == ["p0", "p1", "p2"]


def test_discretion_human_vs_judge_discrepancy(project):
    principles = [Principle.objects.create(project=project, name=f"q{i}", position=i) for i in range(2)]
    person, bot = human("person"), judge("bot")
    # Principle verdicts: q0 favours A, q1 favours B on every item (a conflict each time);
    # the person always sides with q0, the judge with q1: reversed priorities, DD = 1.
    for _ in range(4):
        item = make_item(project, "pairwise")
        mine = annotate(item, person, "A")
        theirs = annotate(item, bot, "B", consistent=True)
        for annotation in (mine, theirs):
            make_verdict(annotation=annotation, principle=principles[0], verdict="A")
            make_verdict(annotation=annotation, principle=principles[1], verdict="B")
    audit = run_audit(project, n_boot=20, n_boot_priority=0)
    info = audit.summary["discretion"]
    assert info["discrepancy"]["human_vs_judge"] == 1.0
    assert info["discrepancy"]["annotators"][str(bot.uuid)] == 1.0
    assert info["groups"]["judge"]["priority"]["status"] == ["always_loses", "always_wins"]
    # a principle source of only the judge's verdicts gives the same categories here
    assert run_audit(project, n_boot=10, discretion_source="model").summary["discretion"]["categories"]["conflict"] == 4


def test_outlier_rule_low_agreement_z(project):
    people = [human(f"p{i}") for i in range(5)]
    items = [make_item(project, "pairwise") for _ in range(12)]
    for item in items:
        for person in people[:4]:
            annotate(item, person, "A")
        annotate(item, people[4], "B")
    audit = run_audit(project, n_boot=20)
    by_annotator = rows_by_annotator(audit)
    odd = by_annotator[people[4].pk]
    assert odd.agreement == 0 and odd.outlier and "low_agreement" in odd.flags
    assert odd.details["agreement_z"] == pytest.approx(-20.0)  # (0 − 1) / max(sd 0, 0.05)
    assert not any(by_annotator[p.pk].outlier for p in people[:4])
    assert audit.summary["annotators"]["outliers"] == 1


def test_outlier_rule_needs_enough_peers(project):
    people = [human(f"p{i}") for i in range(3)]
    for _ in range(12):
        item = make_item(project, "pairwise")
        annotate(item, people[0], "A")
        annotate(item, people[1], "A")
        annotate(item, people[2], "B")
    audit = run_audit(project, n_boot=20)
    assert not any(row.outlier for row in audit.annotators.all())  # only 2 peers: no z-score


def test_outlier_rule_low_probe_consistency(project):
    alice, bob = human("alice"), human("bob")
    for n in range(5):
        item = make_item(project, "pairwise")
        annotate(item, alice, "A")
        annotate(item, bob, "A")
        annotate(make_probe(item, alice, swapped=n % 2 == 0), alice, "B" if n < 3 else "A")
    row = rows_by_annotator(run_audit(project, n_boot=10))[alice.pk]
    assert row.probe_consistency == pytest.approx(0.4)
    assert row.outlier and "low_probe_consistency" in row.flags


def test_strength_alpha_is_ordinal_on_signed_strength(project):
    people = [human(f"s{i}") for i in range(3)]
    data = [[("A", 3), ("A", 1), ("B", 2)], [("A", 2), ("tie", None), ("B", 2)], [("A", 3), ("B", 1), ("B", 3)]]
    items = [make_item(project, "pairwise") for _ in range(3)]
    for person, row in zip(people, data, strict=True):
        for item, (choice, strength) in zip(items, row, strict=True):
            annotate(item, person, choice, strength=strength)
    audit = run_audit(project, n_boot=20)
    signed = [[s if c == "A" else 0 if c == "tie" else -s for c, s in row] for row in data]
    ref = krippendorff.alpha(reliability_data=signed, level_of_measurement="ordinal")
    got = audit.summary["alpha"]["pairwise_strength"]
    assert got["level"] == "ordinal" and got["alpha"] == pytest.approx(ref)


def test_ches_uses_the_consensus_orientation(project, tmp_path):
    """docs/algorithms.md#ches: S+ = (2,2), |y+| = 3; S- = (4,1), |y-| = 2 → CHES 2, LN-CHES 0.7778."""
    from curation.ches.selectors import encoding_model_name
    from curation.models import ResponseEncoding

    (tmp_path / "config.json").write_text("{}")
    project.model_name = str(tmp_path)
    project.save()
    people = [human(f"c{i}") for i in range(2)]
    item = make_item(project, "pairwise")
    plain = make_item(project, "pairwise")  # not encoded
    first, second = item.ordered_responses()
    for person in people:
        annotate(item, person, "B")  # the second response is chosen
        annotate(plain, person, "A")
    model_name = encoding_model_name(project=project)
    for response, vector, n in ((second, (2, 2), 3), (first, (4, 1), 2)):
        ResponseEncoding.objects.create(
            response=response, model_name=model_name, dim=2, n_tokens=n, vector=np.asarray(vector, "<f4").tobytes()
        )
    audit = run_audit(project, n_boot=10)
    rows = rows_by_item(audit)
    row = rows[item.pk]
    assert (row.chosen_id, row.rejected_id) == (second.pk, first.pk)
    assert row.ches == pytest.approx(2.0) and row.ln_ches == pytest.approx(0.777778, abs=1e-6)
    assert row.ches_model == model_name
    assert rows[plain.pk].ches is None and rows[plain.pk].chosen_id is not None
    info = audit.summary["ches"]
    assert info["status"] == "ok" and info["eligible"] == 2 and info["scored"] == 1
    assert info["top"][0]["item"] == str(item.uuid) and info["top"][0]["ln_ches"] == pytest.approx(0.777778, abs=1e-6)
    assert info["quantiles"]["p50"] == pytest.approx(0.777778, abs=1e-6)


def test_ches_without_a_model_says_why(project, settings):
    settings.DOCKET_MODEL = "/no/such/model"
    item = make_item(project, "pairwise")
    annotate(item, human("x"), "A")
    info = run_audit(project, n_boot=10).summary["ches"]
    assert info["status"] == "unavailable" and "no model" in info["reason"]
    assert info["eligible"] == 1


def test_empty_project_audits_cleanly(project):
    audit = run_audit(project)
    assert audit.items.count() == 0 and audit.annotators.count() == 0
    assert audit.summary["counts"]["annotations"] == 0
    assert audit.summary["progress"] == {"days": [], "by_kind": {}, "total": [], "cumulative": []}


def test_summary_is_plain_json_without_nan(project, pairwise_set):
    import json

    audit = run_audit(project, n_boot=20)
    text = json.dumps(audit.summary, allow_nan=False)  # raises on NaN / Infinity
    assert '"alpha"' in text
    for row in audit.items.all():
        json.dumps(row.details, allow_nan=False)
        json.dumps(row.consensus, allow_nan=False)
    for row in audit.annotators.all():
        json.dumps(row.details, allow_nan=False)


def test_params_are_checked(project):
    assert audit_params_clean(data={}).n_boot == 1000
    with pytest.raises(ValidationError) as info:
        audit_params_clean(data={"n_boot": -1, "discretion_source": "robots", "colour": 1})
    assert set(info.value.message_dict) == {"n_boot", "discretion_source", "params"}
    with pytest.raises(ValidationError):
        audit_create(project=project, user=None, params={"low_agreement_below": 2})
    job = audit_create(project=project, user=None, params={"n_boot": 5}, enqueue=False)
    assert job.kind == "audit" and job.queue == "light" and job.status == "queued"


def test_cancel_is_honoured_between_stages(project, pairwise_set):
    job = job_create(project=project, kind="audit", params={"n_boot": 10}, enqueue=False)

    def cancel_after_first_stage(current):
        if current.progress_done == 0 and current.progress_total:
            Job.objects.filter(pk=current.pk).update(cancel_requested=True)

    ended = run_job(job.pk, on_progress=cancel_after_first_stage)
    assert ended.status == "cancelled"
    assert not Audit.objects.filter(project=project).exists()


def test_each_run_is_kept_as_history(project, pairwise_set):
    first = run_audit(project, n_boot=10)
    second = run_audit(project, n_boot=10)
    assert first.pk != second.pk and first.items.count() == second.items.count() == 4
    assert Audit.objects.filter(project=project).latest() == second
    assert second.job.result["audit"] == second.pk
    assert Annotator.objects.count() == 3


def test_every_kind_together(project):
    """Thumb and ranking probes, a ranking resolution, judgment items, an imported
    source with principle verdicts on thumbs: stored, consistent and JSON-clean."""
    import json

    people = [human(f"k{i}") for i in range(3)]
    imported = Annotator.objects.create(type=Annotator.Type.IMPORTED, name="hh-rlhf")
    principle = Principle.objects.create(project=project, name="honest")
    thumbs = [make_item(project, "thumb") for _ in range(3)]
    for item in thumbs:
        for person in people:
            annotate(item, person, "up")
        verdict = annotate(item, imported, "down")
        make_verdict(annotation=verdict, principle=principle, verdict="A")  # upholds
    annotate(make_probe(thumbs[0], people[0], swapped=False), people[0], "down")  # a retest that changed
    ranking = make_item(project, "ranking", n_responses=3)
    uuids = [str(r.uuid) for r in ranking.ordered_responses()]
    for person in people:
        annotate(ranking, person, ranking=[[uuids[0]], [uuids[1], uuids[2]]])
    annotate(make_probe(ranking, people[1], swapped=False), people[1], ranking=[[uuids[0]], [uuids[1], uuids[2]]])
    resolved = make_item(project, "ranking", n_responses=3, resolution={"ranking": [[uuids[0]]]})
    ruuids = [str(r.uuid) for r in resolved.ordered_responses()]
    resolved.resolution = {"ranking": [[ruuids[2]], [ruuids[0]]]}
    resolved.save()
    annotate(resolved, people[0], ranking=[[u] for u in ruuids])
    critique = make_item(project, "judgment")
    annotate(critique, people[2], critique="Too long.")

    audit = run_audit(project, n_boot=30, n_boot_priority=5)
    json.dumps(audit.summary, allow_nan=False)
    rows = rows_by_item(audit)
    assert rows[critique.pk].n_judgments == 1 and rows[critique.pk].consensus == {}
    assert rows[thumbs[0].pk].consensus["choice"] == "up" and rows[thumbs[0].pk].majority_share == 0.75
    assert "retest_inconsistent" in rows[thumbs[0].pk].flags
    assert rows[ranking.pk].consensus["order"] == [[uuids[0]], [uuids[1], uuids[2]]]
    assert rows[ranking.pk].consensus["method"] == "borda" and rows[ranking.pk].majority_share == 1.0
    assert rows[resolved.pk].consensus == {
        "order": [[ruuids[2]], [ruuids[0]], [ruuids[1]]], "scores": {ruuids[2]: 2, ruuids[0]: 1, ruuids[1]: 0},
        "method": "resolution",
    }  # fmt: skip
    by_annotator = rows_by_annotator(audit)
    assert by_annotator[people[0].pk].probe_consistency == 0.0
    assert by_annotator[people[1].pk].probe_consistency == 1.0  # the ranking repeat matched
    # the imported source says "down" where its own principle verdict says the response upholds it
    assert by_annotator[imported.pk].arbitrariness == 1.0
    assert audit.summary["discretion"]["groups"]["imported"]["arbitrariness"]["estimate"] == 1.0
    assert audit.summary["discretion"]["groups"]["human"]["arbitrariness"]["estimate"] == 0.0
    assert {r.discretion_category for r in audit.items.all()} == {"consensus", ""}
    assert audit.summary["counts"]["probes"] == 2
    assert audit.summary["alpha"]["ranking"]["level"] == "ordinal"


def test_too_fast_is_flagged_but_not_an_outlier(project):
    people = [human(f"f{i}") for i in range(4)]
    for _ in range(10):
        item = make_item(project, "pairwise")
        for person, seconds in zip(people, (20, 24, 30, 3), strict=True):
            annotate(item, person, "A", seconds=seconds)
    by_annotator = rows_by_annotator(run_audit(project, n_boot=10))
    quick = by_annotator[people[3].pk]
    assert quick.median_seconds == 3.0 and "too_fast" in quick.flags and not quick.outlier  # 3 < 0.25 × 22
    assert not any("too_fast" in by_annotator[p.pk].flags for p in people[:3])
