"""The judge answers custom questions (docs/algorithms.md#judge-answers) and a panel's jury aggregates
them (docs/algorithms.md#judge-juries): with scripted next-token probabilities, then the default model
on a multi-label question (slow)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Annotation, Answer
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.judging import runner as judging
from curation.judging.params import judge_params_clean
from curation.projects.questions import question_add
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.usefixtures("no_heartbeat_thread")


def judge(project, **params):
    job = run_job(job_create(project=project, kind="judge", params=params, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    return job


@pytest.fixture
def questions(project):
    owner = UserFactory(username="jq-owner")
    return {
        "safety": question_add(project=project, user=owner, spec={"key": "safety", "type": "single_choice",
                               "label": "Is the exchange safe?", "options": ["safe", "unsafe", "unsure"]}),
        "hazard": question_add(project=project, user=owner, spec={"key": "hazard", "type": "multi_label",
                               "label": "Hazards", "target": "response", "options": [
                                   {"value": "violence", "description": "Enables or endorses violence"},
                                   {"value": "privacy"}]}),
        "helpful": question_add(project=project, user=owner, spec={"key": "helpful", "type": "rating",
                                "label": "How helpful?", "scale": 5, "low_label": "useless", "high_label": "ideal"}),
        "note": question_add(project=project, user=owner, spec={"key": "note", "type": "text", "label": "Note"}),
    }  # fmt: skip


@pytest.fixture
def scripted_probs(monkeypatch):
    """Next-token probabilities from a script: the content-free twin ("N/A") gets a flat prior; the
    real prompt favours C for a choice, 4 for a rating, and yes for violence on a text that mentions
    a knife. The 'strict' variant's system prompt shifts the rating to 2 and says yes to privacy."""
    calls = SimpleNamespace(prompts=[], flip_choice=False, pair_consistent=True)

    def label_probs(loaded, user_texts, labels, system=judging.JUDGE_SYSTEM):
        calls.prompts += user_texts
        strict = "strict" in system
        out = []
        for text in user_texts:
            free = "Answer: N/A" in text or "Answer A: N/A" in text
            p = dict.fromkeys(labels, 0.1)
            if not free and tuple(labels) != ("A", "B", "NA"):  # principle verdicts: flat (NA)
                if labels[0] == "A":
                    # flip_choice: position-biased on the choice, C only when the knife text is shown first
                    p["C" if not calls.flip_choice or "Answer A: Use a knife" in text else "A"] = 0.5
                elif labels[0] == "1":
                    p["2" if strict else "4"] = 0.6
                else:
                    category_yes = ('"violence"' in text and "knife" in text) or ('"privacy"' in text and strict)
                    p = {"yes": 0.4 if category_yes else 0.05, "no": 0.1}
            out.append(p)
        return out

    monkeypatch.setattr(judging, "_label_probs", label_probs)
    monkeypatch.setattr(judging, "_pair_both_orders", lambda loaded, messages, a, b, system=None: {
        "winner": "A" if calls.pair_consistent else None, "consistent": calls.pair_consistent, "orders": [],
        "p_first": 0.6, "p_second": 0.4})  # fmt: skip
    from curation.llm import runtime

    monkeypatch.setattr(runtime, "get_model", lambda name=None: SimpleNamespace(name=name or "judge-model"))
    return calls


def test_judge_answers_each_question_type_typed(project, questions, scripted_probs):
    item = make_item(project, "pairwise", texts=["Use a knife on him.", "Call the police."])
    a, b = item.ordered_responses()
    job = judge(project, kinds=["pairwise"], questions=True)
    annotation = Annotation.objects.get(item=item)
    answers = {(x.question.key, x.response_id): x for x in Answer.objects.filter(annotation=annotation)}
    assert answers[("safety", None)].choice == "unsure"  # letter C
    assert answers[("helpful", None)].rating == 4
    assert answers[("hazard", a.pk)].labels == ["violence"] and answers[("hazard", b.pk)].labels == []
    assert ("note", None) not in answers  # free text is not judged
    assert all(x.version_id == questions[x.question.key].current_id for x in answers.values())
    details = annotation.probabilities["questions"]
    assert details["hazard"][str(a.uuid)]["p_yes"]["violence"] == pytest.approx(0.4 / 0.1 / (0.4 / 0.1 + 1.0))
    assert details["helpful"]["expected"] == pytest.approx((1 + 2 + 3 + 4 * 6 + 5) / 10)  # calibrated 1,1,1,6,1
    assert details["safety"]["calibration"] == "content-free" and details["safety"]["prior"]["A"] == 0.1
    # One prompt and its content-free twin per question (and per category and response for multi-label);
    # the two questions about the whole pair also in the reversed order (their own swap test).
    assert len(scripted_probs.prompts) == 2 * (2 + 2) + 2 * 2 * 2
    assert details["safety"]["consistent"] is True and details["safety"]["swapped"]["value"] == "unsure"
    assert answers[("safety", None)].consistent is True and answers[("hazard", a.pk)].consistent is None
    assert job.result["answered"] == 1
    # The judge's answers are not votes by default (docs/algorithms.md#who-votes).
    assert annotation.annotator.type == "model"


def test_argmax_rating_rule_and_bad_rule_refused(project, questions, scripted_probs):
    make_item(project, "pairwise")
    with pytest.raises(ValidationError) as caught:
        judge_params_clean(project=project, data={"rating_rule": "median"})
    assert "rating_rule" in caught.value.message_dict
    judge(project, kinds=["pairwise"], questions=True, rating_rule="argmax")
    assert Answer.objects.get(question=questions["helpful"]).rating == 4


def test_without_questions_the_judge_answers_none(project, questions, scripted_probs):
    make_item(project, "pairwise")
    judge(project, kinds=["pairwise"])
    assert not Answer.objects.exists() and scripted_probs.prompts == []


def test_a_panel_answers_as_members_and_a_jury(project, questions, scripted_probs):
    from tests.audit.helpers import run_audit

    item = make_item(project, "pairwise", texts=["Use a knife on him.", "Call the police."])
    a, _ = item.ordered_responses()
    job = judge(project, kinds=["pairwise"], questions=True, rating_rule="argmax", panel="default,strict,charitable")
    jury = Annotation.objects.get(item=item, annotator__model_name="jury")
    assert jury.consistent is False and jury.metadata["jury"] is True  # a record, never a vote
    got = {(x.question.key, x.response_id): x.value for x in jury.answers.all()}
    # Ratings (argmax) 4 (default), 2 (strict), 4 (charitable): mean 10/3 → 3.
    assert got[("helpful", None)] == 3
    assert jury.probabilities["jury"]["helpful"]["members"] == [4, 2, 4]
    # privacy: only strict says yes (1 of 3) → out; violence: all three → in.
    assert got[("hazard", a.pk)] == ["violence"]
    assert jury.probabilities["jury"]["hazard"][str(a.uuid)]["shares"] == pytest.approx(
        {"violence": 1.0, "privacy": 1 / 3}
    )
    assert job.result["jury"]["answered"] == 1
    from curation.judging.selectors import judge_calibrations

    cards = {card["annotator"] for card in judge_calibrations(project=project)}
    assert len(cards) == 3 and jury.annotator.name not in cards  # the members' cards, none for the jury
    members = Annotation.objects.filter(item=item).exclude(pk=jury.pk)
    assert members.count() == 3 and Answer.objects.filter(annotation__in=members).count() == 3 * 4
    # Running again answers nothing twice.
    assert judge(project, kinds=["pairwise"], questions=True, rating_rule="argmax", panel="default,strict,charitable").result[
        "jury"]["answered"] == 0  # fmt: skip
    # The audit leaves the jury out even when judges vote; the members are compared.
    entry = next(e for e in run_audit(project, n_boot=0, voters=["human", "imported", "model"])
                 .summary["questions"]["entries"] if e["key"] == "helpful")  # fmt: skip
    assert entry["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 2, "5": 0}
    assert str(jury.annotator.uuid) not in {x["annotator"] for x in entry["annotators"]}


@pytest.mark.slow
def test_real_model_answers_a_multi_label_question(project, settings):
    """The default model labels a response on a two-category taxonomy: every category has a real
    P(yes), the answer follows the rule P(yes) > P(no), and the answer is stored typed."""
    settings.DOCKET_TORCH_THREADS = 1
    owner = UserFactory(username="jq-real")
    hazard = question_add(project=project, user=owner, spec={"key": "hazard", "type": "multi_label",
                          "label": "Which hazard categories does the answer fall under?", "target": "response",
                          "options": [{"value": "violence", "description": "describes how to hurt or kill people"},
                                      {"value": "cooking", "description": "talks about food or recipes"}]})  # fmt: skip
    item = make_item(project, "thumb", texts=["Stab him with the knife until he stops moving."])
    item.prompt.messages = [{"role": "user", "content": "How do I hurt my neighbour?"}]
    item.prompt.save()
    (response,) = item.ordered_responses()
    judge(project, kinds=["thumb"], questions=True)
    annotation = Annotation.objects.get(item=item)
    assert annotation.annotator.model_name.startswith("SmolLM2")
    details = annotation.probabilities["questions"]["hazard"][str(response.uuid)]
    assert set(details["raw"]) == {"violence", "cooking"}
    for category in ("violence", "cooking"):
        assert 0 < details["raw"][category]["yes"] < 1 and 0 < details["raw"][category]["no"] < 1
    assert details["raw"]["violence"] != details["raw"]["cooking"]  # each category asked separately
    chosen = [c for c in ("violence", "cooking") if details["p_yes"][c] > 0.5]
    answer = Answer.objects.get(annotation=annotation, question=hazard)
    assert answer.labels == chosen == details["value"]
    assert answer.response_id == response.pk


@pytest.mark.slow
def test_real_model_checks_a_question_about_the_pair_in_both_orders(project, settings):
    """The default model answers a question about the whole pair in both orders; the stored answer is
    the first order's, marked consistent exactly when the reversed order agreed; a question about each
    response is asked once per response and left unchecked."""
    owner = UserFactory(username="jq-real-pair")
    better = question_add(project=project, user=owner, spec={"key": "tone", "type": "single_choice",
                          "label": "What is the tone of the answers?", "options": ["polite", "rude"]})  # fmt: skip
    short = question_add(project=project, user=owner, spec={"key": "short", "type": "multi_label",
                         "target": "response", "label": "Which apply to the answer?",
                         "options": ["short", "insulting"]})  # fmt: skip
    item = make_item(project, "pairwise", texts=["Paris is the capital of France.", "Shut up, it is Paris."])
    judge(project, kinds=["pairwise"], questions=True)
    annotation = Annotation.objects.get(item=item)
    details = annotation.probabilities["questions"]["tone"]
    assert details["raw"] != details["swapped"]["raw"]  # the reversed order is another prompt
    answer = Answer.objects.get(annotation=annotation, question=better)
    assert answer.choice == details["value"]
    assert answer.consistent is (details["swapped"]["value"] == details["value"]) is details["consistent"]
    per_response = Answer.objects.filter(annotation=annotation, question=short)
    assert per_response.count() == 2 and {a.consistent for a in per_response} == {None}


def test_items_judged_before_are_asked_the_new_questions_only(project, questions, scripted_probs):
    item = make_item(project, "pairwise", texts=["Use a knife on him.", "Call the police."])
    judge(project, kinds=["pairwise"])  # no questions: the kind's verdict only
    (annotation,) = Annotation.objects.filter(item=item)
    assert not annotation.answers.exists() and scripted_probs.prompts == []
    job = judge(project, kinds=["pairwise"], questions=True)
    assert Annotation.objects.filter(item=item).count() == 1  # the same judgment, answers added
    annotation.refresh_from_db()
    assert {a.question.key for a in annotation.answers.all()} == {"safety", "hazard", "helpful"}
    assert annotation.choice == "A" and set(annotation.probabilities) >= {"questions", "p_first"}
    assert job.result["answered"] == 1 and job.result["judged"] == 0
    asked = len(scripted_probs.prompts)
    again = judge(project, kinds=["pairwise"], questions=True)
    assert len(scripted_probs.prompts) == asked and again.result.get("answered", 0) == 0  # nothing left to ask


def test_answers_added_to_an_annotation_are_checked_and_never_replace_one(project, questions):
    from annotate.services.annotations import annotation_answers_add
    from tests.audit.helpers import annotate
    from tests.audit.helpers import judge as model_annotator

    item = make_item(project, "pairwise")
    annotation = annotate(item, model_annotator("adder"), "A")
    with pytest.raises(ValidationError) as caught:
        annotation_answers_add(annotation=annotation, answers={"helpful": 9, "safety": "safe"})
    assert "answers.helpful" in caught.value.message_dict and not annotation.answers.exists()  # nothing half-written
    assert (
        annotation_answers_add(annotation=annotation, answers={"helpful": 2}, probabilities={"questions": {"a": 1}})
        == 1
    )
    assert annotation_answers_add(annotation=annotation, answers={"helpful": 5, "safety": "safe"},
                                  probabilities={"questions": {"b": 2}}) == 1  # fmt: skip
    annotation.refresh_from_db()
    assert {a.question.key: a.value for a in annotation.answers.all()} == {"helpful": 2, "safety": "safe"}
    assert annotation.probabilities["questions"] == {"a": 1, "b": 2}


def test_questions_from_the_judge_page_and_the_command(project, questions, personas, scripted_probs):
    import io

    from django.core.management import CommandError, call_command
    from django.test import Client
    from django.urls import reverse

    from curation.models import Job

    client = Client()
    client.force_login(personas["curator"])
    url = reverse("jobs:judge", kwargs={"slug": project.slug})
    page = client.get(url).content.decode()
    assert "safety, hazard, helpful, note" in page and 'name="questions"' in page and 'name="rating_rule"' in page
    refused = client.post(url, {"kinds": ["pairwise"], "questions": "on", "rating_rule": "median"})
    assert refused.status_code == 422 and not Job.objects.filter(kind="judge").exists()
    assert client.post(url, {"kinds": ["pairwise"], "questions": "on", "rating_rule": "argmax"}).status_code == 302
    job = Job.objects.get(kind="judge")
    assert job.params["questions"] is True and job.params["rating_rule"] == "argmax"
    out = io.StringIO()
    make_item(project, "pairwise")
    call_command("judge", project.slug, "--questions", "--rating-rule", "expected", stdout=out, stderr=io.StringIO())
    latest = Job.objects.filter(kind="judge").latest("created_at")
    assert latest.params["questions"] is True and latest.params["rating_rule"] == "expected"
    assert latest.status == "succeeded" and Answer.objects.filter(question=questions["helpful"]).get().rating == 4
    with pytest.raises(CommandError):
        call_command("judge", project.slug, "--rating-rule", "median", stderr=io.StringIO())


def test_questions_are_answered_in_every_shard_and_never_on_rejudgment_copies(
    project, questions, scripted_probs, monkeypatch
):
    """The answering runs inside the sharded judge path, per shard; a re-judgment (which asks only its
    rewritten principle, of copies kept out of the audits) refuses ``questions`` naming the field,
    and a later run with questions neither plans the copies nor adds answers to them."""
    from annotate.models import Item
    from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
    from curation.models import Job
    from curation.projects.services import principle_add, principle_update
    from curation.refinement.services import rejudgment_create

    monkeypatch.setattr(judging, "ITEMS_PER_SHARD", 1)
    owner = UserFactory(username="jq-refiner")
    harmless = principle_add(project=project, name="Harmless", description="No harm.", user=owner)
    items = [make_item(project, "pairwise") for _ in range(3)]
    readers = [annotator_for_model(name=f"reader {n}", model_name="m") for n in (1, 2)]
    for item in items:
        for reader, verdict in zip(readers, "AB", strict=True):
            annotation_record(
                item=item, annotator=reader, data=AnnotationInput(choice="A", verdicts={harmless.pk: verdict})
            )
    job = judge(project, kinds=["pairwise"], questions=True)
    assert job.shards.count() == 3 and job.result["answered"] == 3 and job.result["judged"] == 3
    judged = Annotation.objects.filter(item__in=items, annotator__type="model").exclude(annotator__in=readers)
    assert judged.count() == 3
    for annotation in judged:  # safety, helpful, and hazard for each of the two responses
        assert annotation.answers.count() == 4 and set(annotation.probabilities["questions"]) == {
            "safety", "hazard", "helpful"}  # fmt: skip

    principle_update(principle=harmless, description="No harm to a person.", user=owner)
    harmless.refresh_from_db()
    rejudgment = rejudgment_create(
        project=project, principle=harmless, user=owner, size=3, panel="default,strict", enqueue=False
    )
    rejudge_job = Job.objects.get(uuid=rejudgment.job_uuid)
    with pytest.raises(ValidationError) as caught:
        judge_params_clean(project=project, data={**rejudge_job.params, "questions": True})
    assert set(caught.value.message_dict) == {"questions"}
    rejudge_job = run_job(rejudge_job.pk)
    assert rejudge_job.status == "succeeded", rejudge_job.error
    copies = Item.objects.filter(rejudgment=rejudgment)
    assert copies.count() == 3
    # The default member is the judge above (same model and variant): it judged the copies, without answers.
    assert Annotation.objects.filter(item__in=copies, annotator=judged.first().annotator).count() == 3
    assert not Answer.objects.filter(annotation__item__in=copies).exists()
    again = judge(project, kinds=["pairwise"], questions=True)
    assert again.result["judged"] == 0 and again.result.get("answered", 0) == 0
    assert not Answer.objects.filter(annotation__item__in=copies).exists()


def test_answers_count_by_their_own_position_check_not_the_pairwise_verdicts(project, questions, scripted_probs):
    """A judge whose pairwise verdict flipped under the swap (``consistent=False``) keeps its answers
    about each response and its answers about the pair that agree in both orders; an answer about the
    pair that flips with the order is not a vote (docs/questions.md#judge-answers-and-position). Read
    the same by the audit and the exports."""
    from tests.audit.helpers import run_audit

    scripted_probs.flip_choice, scripted_probs.pair_consistent = True, False
    item = make_item(project, "pairwise", texts=["Use a knife on him.", "Call the police."])
    a, b = item.ordered_responses()
    judge(project, kinds=["pairwise"], questions=True)
    annotation = Annotation.objects.get(item=item)
    assert annotation.consistent is False and annotation.choice == "tie"  # the pairwise verdict is no vote
    stored = {(x.question.key, x.response_id): x for x in annotation.answers.all()}
    assert (stored[("safety", None)].choice, stored[("safety", None)].consistent) == ("unsure", False)  # C, then A
    assert (stored[("helpful", None)].rating, stored[("helpful", None)].consistent) == (4, True)
    assert stored[("hazard", a.pk)].labels == ["violence"] and stored[("hazard", a.pk)].consistent is None
    assert annotation.probabilities["questions"]["safety"]["swapped"]["value"] == "safe"  # letter A

    summary = run_audit(project, n_boot=0, voters=["human", "imported", "model"]).summary["questions"]
    entries = {e["key"]: e for e in summary["entries"]}
    assert entries["helpful"]["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    assert entries["hazard"]["n_answers"] == 2 and entries["hazard"]["distribution"]["violence"] == 1
    assert entries["safety"]["n_answers"] == 0  # the flipped answer is left out


def test_exports_read_answers_by_their_own_position_check(project, questions, scripted_probs, tmp_path, settings):
    import datasets

    from annotate.services.annotations import AnnotationInput, annotation_record
    from tests.exports.db_builders import export_dir_fixture, human
    from tests.questions.test_exports import export

    export_dir_fixture(settings, tmp_path)
    scripted_probs.flip_choice, scripted_probs.pair_consistent = True, False
    item = make_item(project, "pairwise", texts=["Use a knife on him.", "Call the police."])
    judge(project, kinds=["pairwise"], questions=True)
    assert Annotation.objects.get(item=item).consistent is False
    annotation_record(annotator=human("voter"), item=item, data=AnnotationInput(choice="A"))  # no answers
    # The pair's consensus is the person's A; the question columns are the judge's answers that count.
    dpo, _ = export(project, tmp_path, "dpo", "--plain", "--voters", "human,imported,model")
    (row,) = dpo.to_list()
    assert row["chosen"] == "Use a knife on him."
    assert row["q_hazard_chosen"] == ["violence"] and row["q_hazard_rejected"] == []  # about one response: kept
    assert row["q_helpful"] == 4.0  # about the pair, the same in both orders: kept
    assert row["q_safety"] is None  # about the pair, flipped with the order: not a vote
    raw, _ = export(project, tmp_path, "raw", "--voters", "human,imported,model")
    judged = next(r for r in raw.to_list() if r["consistent"] is False)
    assert judged["q_safety"] == "unsure"  # the raw rows keep every answer as given
    assert judged["answers_inconsistent"] == ["safety"] and raw.features["answers_inconsistent"] == datasets.List(
        datasets.Value("string")
    )
    assert next(r for r in raw.to_list() if r["consistent"] is None)["answers_inconsistent"] is None
    # Dropping the judge's inconsistent judgments drops its verdict (and its raw row), not its answers.
    dropped, manifest = export(project, tmp_path, "dpo", "--plain", "--voters", "human,imported,model",
                               "--drop-swap-inconsistent")  # fmt: skip
    (row,) = dropped.to_list()
    assert (row["q_hazard_chosen"], row["q_helpful"], row["q_safety"]) == (["violence"], 4.0, None)
    raw, _ = export(project, tmp_path, "raw", "--voters", "human,imported,model", "--drop-swap-inconsistent")
    assert [r["consistent"] for r in raw.to_list()] == [None]
