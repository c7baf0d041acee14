"""One consensus for the dashboard and every export; who votes is explicit; an empty export says why.

docs/algorithms.md#consensus and #export-filters.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotate.models import Annotation, Annotator
from curation.audit.selectors import audit_item_for
from curation.exports.selectors import dataset_file_path
from curation.exports.services import export_create
from curation.jobs.runner import run_job
from curation.models import Dataset, Job
from tests.audit.helpers import run_audit
from tests.factories import make_item

from .db_builders import export_dir_fixture, human, judge

pytestmark = pytest.mark.django_db

export_dir = pytest.fixture(export_dir_fixture, name="export_dir")


def imported(name: str = "hh-rlhf") -> Annotator:
    return Annotator.objects.create(type=Annotator.Type.IMPORTED, name=name)


def vote(item, annotator, choice: str = "", **kw) -> Annotation:
    return Annotation.objects.create(item=item, annotator=annotator, kind=item.kind, choice=choice, **kw)


def export(project, fmt: str, **options) -> Job:
    job = run_job(
        export_create(
            project=project, user=None, params={"format": fmt, "options": {"conversational": False, **options}},
            enqueue=False,
        ).pk
    )  # fmt: skip
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


def rows_of(job: Job) -> list[dict]:
    out = []
    for f in job.dataset.files:
        if f["format"] == "jsonl":
            path = dataset_file_path(dataset=job.dataset, name=f["name"])
            out += [json.loads(line) for line in path.read_text().splitlines() if line]
    return out


def by_prompt(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        out[row["prompt"]].append(row)
    return out


# ---------------------------------------------------------------- the reported bug


def imported_set_with_a_judge(project, *, n: int = 50, judge_disagrees: int = 7):
    """``n`` pairwise items labelled A by an imported set; a consistent judge says B on the first few."""
    source, bot = imported(), judge("verdicts")
    items = []
    for i in range(n):
        item = make_item(project, "pairwise", texts=[f"preferred {i}", f"rejected {i}"])
        vote(item, source, "A")
        vote(item, bot, "B" if i < judge_disagrees else "A", consistent=True)
        items.append(item)
    return items


def encode_everything(project, tmp_path, items) -> None:
    """Stored encodings for every response, so CHES can score every pair."""
    from curation.ches.selectors import encoding_model_name
    from curation.models import ResponseEncoding

    (tmp_path / "config.json").write_text("{}")
    project.model_name = str(tmp_path)
    project.save()
    model_name = encoding_model_name(project=project)
    rng = np.random.default_rng(0)
    for item in items:
        for response in item.ordered_responses():
            ResponseEncoding.objects.create(
                response=response, model_name=model_name, dim=4, n_tokens=int(rng.integers(2, 9)),
                vector=rng.normal(size=4).astype("<f4").tobytes(),
            )  # fmt: skip


def test_imported_labels_outvoted_by_a_consistent_judge_stay_in_the_default_exports_and_ches(
    project, export_dir, tmp_path
):
    items = imported_set_with_a_judge(project)
    encode_everything(project, tmp_path, items)
    dpo = export(project, "dpo")
    assert dpo.dataset.row_count == 50
    assert {r["chosen"] for r in rows_of(dpo)} == {f"preferred {i}" for i in range(50)}
    assert dpo.dataset.manifest["filters"]["voters"] == ["human", "imported"]
    kto = rows_of(export(project, "kto"))
    assert {r["completion"] for r in kto if r["label"]} == {f"preferred {i}" for i in range(50)}
    assert {r["completion"] for r in kto if not r["label"]} == {f"rejected {i}" for i in range(50)}

    audit = run_audit(project, n_boot=10)
    assert audit.summary["params"]["voters"] == ["human", "imported"]
    for item in items:
        assert audit_item_for(audit=audit, item=item).consensus["choice"] == "A"
    ches = audit.summary["ches"]
    assert ches["eligible"] == 50 and ches["scored"] == 50

    # The judge votes only when asked: its seven disagreements split those items.
    with_judge = export(project, "dpo", voters="human,imported,model")
    assert with_judge.dataset.row_count == 43
    assert with_judge.dataset.manifest["filters"]["voters"] == ["human", "imported", "model"]
    dropped = {d["reason"]: d["count"] for d in with_judge.dataset.manifest["dropped_by_format"]}
    assert dropped == {"pairwise_no_consensus": 7}
    judged = run_audit(project, n_boot=10, voters=["human", "imported", "model"])
    assert judged.summary["ches"]["eligible"] == 43


def test_imported_labels_are_counted_as_people_and_the_old_option_still_reads(project, export_dir):
    imported_set_with_a_judge(project, n=5, judge_disagrees=5)
    assert export(project, "dpo", voters="human,imported").dataset.row_count == 5
    # annotator_types=human used to mean "accounts only" and returned nothing for imported sets.
    assert export(project, "dpo", annotator_types="human").dataset.row_count == 5
    assert export(project, "dpo", annotator_types="judge").dataset.manifest["filters"]["voters"] == ["model"]


# ---------------------------------------------------------------- an empty export says why


def test_an_empty_export_says_which_filter_removed_what(project, export_dir):
    imported_set_with_a_judge(project, n=4, judge_disagrees=0)
    job = export(project, "dpo", voters="human")
    assert job.dataset.row_count == 0
    why = job.result["why_empty"]
    assert why == job.dataset.manifest["why_empty"]
    assert "voters" in why and "8 judgments" in why and "4 items" in why and "pairwise_no_consensus" in why


def test_the_command_exits_non_zero_on_an_empty_export_unless_allowed(project, export_dir, tmp_path):
    imported_set_with_a_judge(project, n=3, judge_disagrees=0)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "export_dataset", project.slug, "--format", "kto", "--out", str(tmp_path / "a"), "--voters", "human",
            "--quiet", stdout=out, stderr=err,
        )  # fmt: skip
    message = str(caught.value)
    assert "0 rows" in message and "voters" in message and "--allow-empty" in message
    assert Dataset.objects.count() == 1  # recorded, and its manifest says why
    call_command(
        "export_dataset", project.slug, "--format", "kto", "--out", str(tmp_path / "b"), "--voters", "human",
        "--allow-empty", "--quiet", stdout=out, stderr=err,
    )  # fmt: skip
    assert "0 kto rows" in out.getvalue() and "voters" in out.getvalue()
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["rows_total"] == 0 and "voters" in manifest["why_empty"]
    call_command(
        "export_dataset", project.slug, "--format", "kto", "--out", str(tmp_path / "c"),
        "--voters", "human,imported,model", "--quiet", stdout=out, stderr=err,
    )  # fmt: skip
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["filters"]["voters"] == [
        "human", "imported", "model",
    ]  # fmt: skip


def test_voters_are_checked_before_anything_is_queued(project):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        export_create(project=project, user=None, params={"format": "dpo", "options": {"voters": "robots"}})
    assert "voters" in caught.value.message_dict
    assert not Job.objects.exists()


# ---------------------------------------------------------------- one consensus, item by item


def consensus_project(project):
    """Ties, both-bad, a split the judge would settle, resolutions, rankings with ties."""
    h1, h2, h3, source, bot = human("c-1"), human("c-2"), human("c-3"), imported("set"), judge("c-judge")
    items = {}
    items["majority"] = it = make_item(project, "pairwise")
    vote(it, h1, "A", strength=2), vote(it, h2, "A"), vote(it, h3, "B"), vote(it, bot, "B", consistent=True)
    items["tie"] = it = make_item(project, "pairwise")
    vote(it, h1, "tie"), vote(it, source, "tie")
    items["both_bad"] = it = make_item(project, "pairwise")
    vote(it, h1, "both_bad"), vote(it, source, "both_bad"), vote(it, bot, "A", consistent=True)
    items["split"] = it = make_item(project, "pairwise")
    vote(it, h1, "A"), vote(it, h2, "B"), vote(it, bot, "A", consistent=True)
    items["resolved"] = it = make_item(project, "pairwise", resolution={"choice": "B"})
    vote(it, h1, "A"), vote(it, h2, "A")
    items["resolved_both_bad"] = it = make_item(project, "pairwise", resolution={"choice": "both_bad"})
    vote(it, h1, "A")
    items["thumb"] = it = make_item(project, "thumb")
    vote(it, h1, "up"), vote(it, source, "up"), vote(it, bot, "down", consistent=True)
    # Rankings where Borda and Bradley–Terry disagree, with ties and a response left out.
    items["ranking"] = it = make_item(project, "ranking", n_responses=4)
    r = [str(x.uuid) for x in it.ordered_responses()]
    x, y, z, w = r  # mean Borda z > y > x > w; Bradley–Terry z > x > y > w (docs/algorithms.md#bradley-terry)
    vote(it, h1, ranking=[[z], [y], [x], [w]])
    vote(it, h2, ranking=[[x, z], [w, y]])
    vote(it, source, ranking=[[y], [x, z]])  # w left out: tied last
    items["ranking_ties"] = it = make_item(project, "ranking", n_responses=3)
    r = [str(x.uuid) for x in it.ordered_responses()]
    vote(it, h1, ranking=[[r[0]], [r[1], r[2]]])
    vote(it, h2, ranking=[[r[1]], [r[0]], [r[2]]])
    vote(it, bot, ranking=[[r[2]], [r[1]], [r[0]]], consistent=True)
    items["ranking_resolved"] = it = make_item(project, "ranking", n_responses=3)
    r = [str(x.uuid) for x in it.ordered_responses()]
    it.resolution = {"ranking": [[r[2]], [r[0], r[1]]]}
    it.save()
    vote(it, h1, ranking=[[r[0]], [r[1]], [r[2]]])
    return items


@pytest.mark.parametrize("voters", [None, ["human", "imported", "model"]])
def test_the_dashboard_consensus_is_what_dpo_kto_and_ranking_exports_emit(project, export_dir, voters):
    items = consensus_project(project)
    audit = run_audit(project, n_boot=10, **({"voters": voters} if voters else {}))
    opts = {"voters": ",".join(voters)} if voters else {}
    dpo = by_prompt(rows_of(export(project, "dpo", **opts)))
    kto = by_prompt(rows_of(export(project, "kto", kto_ties="desirable", **opts)))
    ranking = by_prompt(rows_of(export(project, "ranking", ranking_include_pairwise=True, **opts)))
    checked = 0
    for name, item in items.items():
        shown = audit_item_for(audit=audit, item=item).consensus  # what the dashboard shows
        prompt = item.prompt.text
        text = {str(x.uuid): x.text for x in item.ordered_responses()}
        ids = list(text)
        if item.kind == "ranking":
            order = shown.get("order")
            assert order, name
            groups = [[text[u] for u in g] for g in order]
            flat = [t for g in groups for t in g]
            (row,) = ranking[prompt]
            assert row["responses"] == flat, name
            score = dict(zip(row["responses"], row["scores"], strict=True))
            assert [[score[t] for t in g] for g in groups] == [[score[g[0]]] * len(g) for g in groups], name
            assert len({score[g[0]] for g in groups}) == len(groups), name  # one score per group
            pairs = {(b, w) for i, g in enumerate(groups) for b in g for lower in groups[i + 1 :] for w in lower}
            assert {(r["chosen"], r["rejected"]) for r in dpo.get(prompt, [])} == pairs, name
            if len(groups) > 1:
                want = {(t, True) for t in groups[0]} | {(t, False) for t in groups[-1]}
                assert {(r["completion"], r["label"]) for r in kto[prompt]} == want, name
        elif item.kind == "pairwise":
            choice = shown.get("choice")
            a, b = text[ids[0]], text[ids[1]]
            got_dpo = {(r["chosen"], r["rejected"]) for r in dpo.get(prompt, [])}
            got_kto = {(r["completion"], r["label"]) for r in kto.get(prompt, [])}
            got_ranking = [r["responses"] for r in ranking.get(prompt, [])]
            expected = {
                "A": ({(a, b)}, {(a, True), (b, False)}, [[a, b]]),
                "B": ({(b, a)}, {(b, True), (a, False)}, [[b, a]]),
                "tie": (set(), {(a, True), (b, True)}, [[a, b]]),
                "both_bad": (set(), {(a, False), (b, False)}, []),
                None: (set(), set(), []),
            }[choice]
            assert (got_dpo, got_kto, got_ranking) == expected, (name, choice)
        else:
            choice = shown.get("choice")
            got = {(r["completion"], r["label"]) for r in kto.get(prompt, [])}
            assert got == ({(text[ids[0]], choice == "up")} if choice else set()), name
        checked += 1
    assert checked == len(items)
    # The cases mean something: the judge decides the split only when it votes.
    split = audit_item_for(audit=audit, item=items["split"]).consensus["choice"]
    assert split == ("A" if voters else None)
    assert audit_item_for(audit=audit, item=items["resolved"]).consensus["choice"] == "B"
    assert audit.summary["consensus"]["ranking"]["method"] == "borda"
    shown = audit_item_for(audit=audit, item=items["ranking"]).consensus["order"]
    r = [str(x.uuid) for x in items["ranking"].ordered_responses()]
    assert shown == [[r[2]], [r[1]], [r[0]], [r[3]]]  # z, y, x, w
