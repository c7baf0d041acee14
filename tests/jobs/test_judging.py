"""The algorithmic judge: what it stores for each kind (with a scripted model),
that it takes no human slots, that it skips what it has judged; and the real
default model on an obvious pair (slow)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from annotate.models import Annotation, Annotator, PrincipleVerdict, Role
from annotate.services.assignment import annotator_for_user, assignment_next
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.judging import runner as judging
from curation.judging.params import judge_params_clean
from curation.judging.runner import ranking_from_wins
from curation.judging.services import judge_create
from curation.models import Job
from tests.factories import MembershipFactory, PrincipleFactory, UserFactory, make_item

pytestmark = pytest.mark.usefixtures("no_heartbeat_thread")


def pair_result(winner_first: str, winner_second: str, p=0.8):
    """Both orders' preferences in canonical terms (A = position 0)."""
    consistent = winner_first == winner_second
    return {
        "winner": winner_first if consistent else None,
        "consistent": consistent,
        "orders": [
            {"shown": "AB", "p_a": p if winner_first == "A" else 1 - p, "p_b": 1 - p if winner_first == "A" else p,
             "prefers": winner_first},
            {"shown": "BA", "p_a": p if winner_second == "B" else 1 - p, "p_b": 1 - p if winner_second == "B" else p,
             "prefers": winner_second},
        ],
        "p_first": 0.5,
        "p_second": 0.5,
    }  # fmt: skip


@pytest.fixture
def scripted_judge(monkeypatch):
    """The judge's model calls answered from a script keyed by response text."""
    from curation.llm import runtime

    script = SimpleNamespace(pairs={}, thumbs={}, principles={}, calls=[], systems=[])

    def pair(loaded, messages, a, b, system=judging.JUDGE_SYSTEM):
        script.calls.append(("pair", a, b))
        script.systems.append(system)
        if (a, b) in script.pairs:
            return script.pairs[(a, b)]
        # default: the longer text wins, in both orders
        w = "A" if len(a) >= len(b) else "B"
        return pair_result(w, w)

    def thumb(loaded, messages, text, system=judging.JUDGE_SYSTEM):
        script.calls.append(("thumb", text))
        return script.thumbs[text]

    def principle(loaded, messages, a, b, principle, system=judging.JUDGE_SYSTEM):
        script.calls.append(("principle", principle.name))
        return script.principles[principle.name]

    monkeypatch.setattr(judging, "_pair_both_orders", pair)
    monkeypatch.setattr(judging, "_thumb", thumb)
    monkeypatch.setattr(judging, "_principle_verdict", principle)
    monkeypatch.setattr(
        judging,
        "_judge_prompt_text",
        lambda system=judging.JUDGE_SYSTEM: (
            "PROMPT TEMPLATE" + ("" if system == judging.JUDGE_SYSTEM else f" {system}")
        ),
    )
    monkeypatch.setattr(runtime, "get_model", lambda name=None: SimpleNamespace(name=name or "judge-model"))
    return script


def judge(project, **params):
    job = run_job(job_create(project=project, kind="judge", params=params, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    return job


def test_consistent_pair_is_a_vote_with_probabilities(project, scripted_judge):
    item = make_item(project, "pairwise", texts=["right", "wrong answer"])
    scripted_judge.pairs[("right", "wrong answer")] = pair_result("A", "A", p=0.9)
    job = judge(project)
    annotation = Annotation.objects.get(item=item)
    assert annotation.choice == "A"
    assert annotation.consistent is True
    assert [o["shown"] for o in annotation.probabilities["orders"]] == ["AB", "BA"]
    assert annotation.probabilities["orders"][0]["p_a"] == pytest.approx(0.9)
    assert annotation.metadata["swap"] is True
    assert annotation.display_order == [str(r.uuid) for r in item.ordered_responses()]
    judge_row = annotation.annotator
    assert (judge_row.type, judge_row.model_name, judge_row.judge_prompt) == ("model", "judge-model", "PROMPT TEMPLATE")
    assert job.result["judged"] == 1 and job.result["inconsistent"] == 0


def test_order_disagreement_is_stored_as_inconsistent_not_a_vote(project, scripted_judge):
    item = make_item(project, "pairwise", texts=["one", "two"])
    scripted_judge.pairs[("one", "two")] = pair_result("A", "B")  # prefers whatever is shown first
    job = judge(project)
    annotation = Annotation.objects.get(item=item)
    assert (annotation.choice, annotation.consistent) == ("tie", False)
    assert job.result["inconsistent"] == 1


def test_judges_take_no_human_slots(project, scripted_judge):
    item = make_item(project, "pairwise", texts=["a", "bb"])
    project.overlap = 1
    project.save()
    judge(project)
    item.refresh_from_db()
    assert (item.annotation_count, item.slots_taken, item.status) == (0, 0, "open")
    # A person still gets the item.
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    lease = assignment_next(project=project, annotator=annotator_for_user(user))
    assert lease is not None and lease.item == item


def test_principle_verdicts(project, scripted_judge):
    honest = PrincipleFactory(project=project, name="honest")
    harmless = PrincipleFactory(project=project, name="harmless")
    brief = PrincipleFactory(project=project, name="brief")
    scripted_judge.principles.update(
        honest=("A", {"A": 0.7, "B": 0.2, "NA": 0.1}),
        harmless=("na", {"A": 0.2, "B": 0.2, "NA": 0.6}),
        brief=("B", {"A": 0.1, "B": 0.8, "NA": 0.1}),
    )
    item = make_item(project, "pairwise", texts=["x", "yy"])
    judge(project, principles=True)
    annotation = Annotation.objects.get(item=item)
    verdicts = dict(PrincipleVerdict.objects.filter(annotation=annotation).values_list("principle__name", "verdict"))
    assert verdicts == {"honest": "A", "harmless": "na", "brief": "B"}
    assert annotation.probabilities["principles"]["harmless"] == {"A": 0.2, "B": 0.2, "NA": 0.6}
    assert {honest.pk, harmless.pk, brief.pk} == set(annotation.verdicts.values_list("principle_id", flat=True))


def test_principle_verdict_rule_from_probabilities():
    cases = [
        ({"A": 0.5, "B": 0.3, "NA": 0.2}, "A"),
        ({"A": 0.2, "B": 0.5, "NA": 0.3}, "B"),
        ({"A": 0.3, "B": 0.2, "NA": 0.5}, "na"),  # NA largest
        ({"A": 0.4, "B": 0.4, "NA": 0.2}, "na"),  # P(A) = P(B)
        ({"A": 0.45, "B": 0.1, "NA": 0.45}, "A"),  # NA ties A: not the largest
    ]
    for probs, expected in cases:
        assert judging.principle_verdict_from_probs(probs)[0] == expected, probs


def test_thumbs_by_yes_vs_no(project, scripted_judge):
    good = make_item(project, "thumb", texts=["good"])
    bad = make_item(project, "thumb", texts=["bad"])
    scripted_judge.thumbs.update(good={"yes": 0.7, "no": 0.3}, bad={"yes": 0.2, "no": 0.6})
    judge(project, kinds=["thumb"])
    assert Annotation.objects.get(item=good).choice == "up"
    bad_annotation = Annotation.objects.get(item=bad)
    assert bad_annotation.choice == "down"
    assert bad_annotation.probabilities == {"yes": 0.2, "no": 0.6}


def test_ranking_from_pairwise_wins(project, scripted_judge):
    item = make_item(project, "ranking", texts=["a", "bbb", "cc"])
    ua, ub, uc = (str(r.uuid) for r in item.ordered_responses())
    judge(project, kinds=["ranking"])  # longer wins: bbb > cc > a
    annotation = Annotation.objects.get(item=item)
    assert annotation.ranking == [[ub], [uc], [ua]]
    assert len(annotation.probabilities["pairs"]) == 3
    assert annotation.consistent is True


def test_ranking_ties_and_inconsistent_pairs():
    assert ranking_from_wins(["a", "b", "c"], {"a": 1.5, "b": 1.5, "c": 0.0}) == [["a", "b"], ["c"]]


def test_rerun_limit_and_skips(project, scripted_judge):
    items = [make_item(project, "pairwise", texts=[f"x{i}", f"yy{i}"]) for i in range(3)]
    make_item(project, "judgment")  # not judged
    make_item(project, "pairwise", excluded=True)
    first = judge(project, limit=2)
    assert first.result["judged"] == 2
    assert set(Annotation.objects.values_list("item_id", flat=True)) == {items[0].pk, items[1].pk}
    second = judge(project)
    assert second.result["judged"] == 1
    third = judge(project)
    assert third.result["judged"] == 0
    assert Annotation.objects.count() == 3
    assert Annotator.objects.filter(type="model").count() == 1


def test_a_judge_job_is_sharded_and_its_counts_add_up_over_shards(project, scripted_judge, monkeypatch):
    """curation.jobs.shards: items of one judge per shard; the result sums the shards' counts."""
    monkeypatch.setattr(judging, "ITEMS_PER_SHARD", 2)
    for i in range(4):
        make_item(project, "pairwise", texts=[f"x{i}", f"yy{i}"])
    scripted_judge.pairs[("x1", "yy1")] = pair_result("A", "B")  # the two orders disagree: inconsistent
    make_item(project, "pairwise", texts=["a", "bb"])
    job = judge(project)
    shards = list(job.shards.order_by("index").values_list("units", "status", "result"))
    assert [(units, status) for units, status, _r in shards] == [(2, "done"), (2, "done"), (1, "done")]
    assert sum(r["judged"] for *_x, r in shards) == 5 == job.result["judged"]
    assert job.result["inconsistent"] == sum(r["inconsistent"] for *_x, r in shards) == 1
    assert job.result["by_kind"] == {"pairwise": 5}
    assert (job.progress_done, job.progress_total) == (5, 5)
    assert Annotation.objects.filter(annotator__type="model").count() == 5


def test_params_errors_name_the_field(project):
    with pytest.raises(ValidationError) as exc:
        judge_params_clean(project=project, data={"limit": 0, "kinds": ["judgment"]})
    assert set(exc.value.message_dict) == {"limit", "kinds"}


def test_judge_command(project, scripted_judge):
    make_item(project, "pairwise", texts=["p", "qq"])
    out = io.StringIO()
    call_command("judge", project.slug, "--limit", "5", "--principles", stdout=out, stderr=io.StringIO())
    assert "1 item(s) judged" in out.getvalue()
    with pytest.raises(CommandError, match="kinds"):
        call_command("judge", project.slug, "--kinds", "essay")


# ------------------------------------------------------------ real model


@pytest.mark.slow
def test_real_judge_prefers_the_correct_answer_in_both_orders(project, settings):
    settings.DOCKET_TORCH_THREADS = 1
    item = make_item(
        project,
        "pairwise",
        texts=[
            "The capital of France is Paris.",
            "Purple elephant seventeen banana the the the.",
        ],
    )
    item.prompt.messages = [{"role": "user", "content": "What is the capital of France?"}]
    item.prompt.save()
    job = judge(project, kinds=["pairwise"])
    annotation = Annotation.objects.get(item=item)
    orders = annotation.probabilities["orders"]
    assert [o["shown"] for o in orders] == ["AB", "BA"]  # the swap is recorded
    assert annotation.metadata["swap"] is True
    assert annotation.consistent is True, annotation.probabilities
    assert annotation.choice == "A"
    assert annotation.annotator.type == "model" and annotation.annotator.model_name.startswith("SmolLM2")
    assert job.result["judged"] == 1


# --- panels (docs/algorithms.md#judge-panels) -------------------------------------------


def test_a_panel_judges_as_one_annotator_per_member(project, scripted_judge, tmp_path):
    other = tmp_path / "other.gguf"  # a second model (the scripted runtime never reads it)
    other.write_bytes(b"")
    honest = PrincipleFactory(project=project, name="honest")
    scripted_judge.principles.update(honest=("A", {"A": 0.7, "B": 0.2, "NA": 0.1}))
    items = [make_item(project, "pairwise", texts=[f"x{i}", f"yy{i}"]) for i in range(3)]
    job = judge(project, principles=True, panel=["default", f"strict@{other}"], limit=2)
    members = job.result["panel"]
    assert [(m["model"], m["variant"], m["judged"]) for m in members] == [
        ("judge-model", "default", 2),
        (str(other), "strict", 2),
    ]
    assert job.result["judged"] == 4 and job.progress_total == 4 and job.progress_done == 4
    annotators = Annotator.objects.filter(type="model").order_by("id")
    assert [a.name.split(" [")[0] for a in annotators] == ["judge: judge-model", f"judge: {other}"]
    assert annotators[1].name.endswith("] strict") and annotators[1].params["variant"] == "strict"
    assert "Be strict" in annotators[1].judge_prompt and "Be strict" not in annotators[0].judge_prompt
    # each member's prompt variant reached the model; the default is the plain system prompt
    assert set(scripted_judge.systems) == {judging.judge_system("default"), judging.judge_system("strict")}
    for annotator in annotators:
        assert Annotation.objects.filter(annotator=annotator, item__in=items[:2]).count() == 2
        assert PrincipleVerdict.objects.filter(annotation__annotator=annotator, principle=honest).count() == 2
    # a re-run judges only what each member has left
    again = judge(project, principles=True, panel=["default", f"strict@{other}"])
    assert [m["judged"] for m in again.result["panel"]] == [1, 1]


def test_a_panels_verdicts_are_measured_by_the_ambiguity_audit(project, scripted_judge):
    from tests.audit.helpers import run_audit

    honest = PrincipleFactory(project=project, name="honest")
    scripted_judge.principles.update(honest=("A", {"A": 0.7, "B": 0.2, "NA": 0.1}))
    for i in range(2):
        make_item(project, "pairwise", texts=[f"p{i}", f"qq{i}"])
    judge(project, principles=True, panel="default,charitable")
    entry = next(
        e
        for e in run_audit(project, n_boot=20).summary["ambiguity"]["entries"]
        if e["group"] == "judge" and e["principle"] == honest.pk
    )
    assert (entry["n_interpreters"], entry["n_items"], entry["split_share"]) == (2, 2, 0.0)


@pytest.mark.parametrize(
    "panel",
    [
        ["default"],
        ["default", "default"],
        ["default", "sloppy"],
        [f"strict@m{i}" for i in range(9)],
        [{"variant": "strict", "temp": 1}],
        ["default", "strict@" + "m" * 5000],
        "default," * 10_000,
        [3, 4],
    ],
)
def test_bad_panels_are_refused_naming_the_field(project, panel):
    with pytest.raises(ValidationError) as caught:
        judge_create(project=project, user=None, params={"panel": panel}, enqueue=False)
    assert "panel" in caught.value.message_dict


def test_panel_from_the_command_and_the_judge_page(project, scripted_judge, personas):
    from django.test import Client
    from django.urls import reverse

    make_item(project, "pairwise", texts=["p", "qq"])
    out = io.StringIO()
    call_command("judge", project.slug, "--panel", "default,literal", stdout=out, stderr=io.StringIO())
    assert Annotator.objects.filter(type="model").count() == 2
    with pytest.raises(CommandError, match="panel"):
        call_command("judge", project.slug, "--panel", "default,sloppy")
    client = Client()
    client.force_login(personas["curator"])
    ran = Job.objects.get(kind="judge")
    page = client.get(reverse("jobs:detail", kwargs={"slug": project.slug, "job_uuid": ran.uuid})).content.decode()
    assert "<h2>Panel</h2>" in page and "literal · judge-model" in page  # each member with its calibration card
    url = reverse("jobs:judge", kwargs={"slug": project.slug})
    assert "charitable" in client.get(url).content.decode()  # the variants are listed on the form
    refused = client.post(url, {"kinds": ["pairwise"], "panel": "strict"})
    assert refused.status_code == 422 and "2 to 8 members" in refused.content.decode()
    response = client.post(url, {"kinds": ["pairwise"], "panel": "strict,charitable"})
    assert response.status_code == 302
    job = Job.objects.filter(kind="judge").latest("created_at")
    assert job.params["panel"] == "strict,charitable"
    for who in ("annotator", "researcher", "outsider"):
        denied = Client()
        denied.force_login(personas[who])
        assert denied.post(url, {"kinds": ["pairwise"], "panel": "strict,charitable"}).status_code == 404


@pytest.mark.slow
def test_real_model_as_a_two_member_panel(project, settings):
    """The default model with two prompt variants: two annotators, each with principle verdicts
    from the real model, and the ambiguity audit measures the pair (group judge)."""
    from tests.audit.helpers import run_audit

    settings.DOCKET_TORCH_THREADS = 1
    honest = PrincipleFactory(project=project, name="honest", description="States only what is true.")
    item = make_item(project, "pairwise", texts=["The capital of France is Paris.", "The capital of France is Rome."])
    item.prompt.messages = [{"role": "user", "content": "What is the capital of France?"}]
    item.prompt.save()
    job = judge(project, kinds=["pairwise"], principles=True, panel="default,strict")
    assert [(m["variant"], m["judged"]) for m in job.result["panel"]] == [("default", 1), ("strict", 1)]
    annotations = list(Annotation.objects.filter(item=item).select_related("annotator").order_by("id"))
    assert len({a.annotator_id for a in annotations}) == 2
    assert all(a.annotator.model_name.startswith("SmolLM2") for a in annotations)
    for annotation in annotations:
        assert annotation.verdicts.get(principle=honest).verdict in ("A", "B", "na")
        assert annotation.probabilities["principles"]["honest"]["raw"]  # the real model's numbers
    # different system prompts: the two members' principle probabilities differ
    first, second = (a.probabilities["principles"]["honest"]["raw"] for a in annotations)
    assert first != second
    entry = next(e for e in run_audit(project, n_boot=20).summary["ambiguity"]["entries"] if e["group"] == "judge")
    assert (entry["principle"], entry["n_interpreters"], entry["n_items"]) == (honest.pk, 2, 1)


def test_a_project_saves_its_panel_and_the_job_runs_it(project, scripted_judge, personas):
    from django.test import Client
    from django.urls import reverse

    from curation.judging.params import judge_panel_of
    from curation.judging.services import judge_panel_set

    make_item(project, "pairwise", texts=["p", "qq"])
    with pytest.raises(ValidationError) as caught:  # nothing saved yet
        judge_create(project=project, user=None, params={"panel": "project"}, enqueue=False)
    assert "no saved judge panel" in caught.value.message_dict["panel"][0]
    with pytest.raises(ValidationError) as caught:
        judge_create(project=project, user=None, params={"save_panel": True}, enqueue=False)
    assert "save_panel" in caught.value.message_dict
    client = Client()
    client.force_login(personas["curator"])
    url = reverse("jobs:judge", kwargs={"slug": project.slug})
    saved = client.post(url, {"kinds": ["pairwise"], "panel": "default, literal", "save_panel": "on"})
    assert saved.status_code == 302
    project.refresh_from_db()
    assert judge_panel_of(project) == ["default", "literal"]
    assert 'value="default,literal"' in client.get(url).content.decode()  # the form starts from the saved panel
    out = io.StringIO()
    call_command("judge", project.slug, "--panel", "project", stdout=out, stderr=io.StringIO())
    job = Job.objects.filter(kind="judge").latest("created_at")
    assert [m["variant"] for m in job.result["panel"]] == ["default", "literal"]
    assert Annotator.objects.filter(type="model").count() == 2
    with pytest.raises(ValidationError):
        judge_panel_set(project=project, panel=["default", "sloppy"])
    project.refresh_from_db()
    assert judge_panel_of(project) == ["default", "literal"]  # a refused panel changes nothing
    assert judge_panel_set(project=project, panel=[]) == [] and judge_panel_of(project) == []
