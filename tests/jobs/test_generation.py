"""Candidate generation: the item rules, parameter checks, de-duplication,
idempotency and resume (with a scripted model), and one run of the real
default model (slow)."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from annotate.models import Item, ItemResponse, Prompt, Response, content_hash
from curation.generation.params import generation_params_clean
from curation.generation.runner import generation_fingerprint, item_groups
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.models import Job, PromptGeneration
from tests.factories import ResponseFactory

pytestmark = pytest.mark.usefixtures("no_heartbeat_thread")


def add_prompts(project, questions):
    prompts = []
    for q in questions:
        messages = [{"role": "user", "content": q}]
        prompts.append(Prompt.objects.create(project=project, messages=messages, content_hash=content_hash(messages)))
    return prompts


# ------------------------------------------------------------------ rules


def test_pair_rule_adjacent_disjoint_pairs_in_generation_order():
    assert item_groups([5, 6, 7, 8], "pairwise") == [(5, 6), (7, 8)]
    assert item_groups([5, 6, 7], "pairwise") == [(5, 6)]  # the odd one out is left unpaired
    assert item_groups([5, 5, 6, 5, 7], "pairwise") == [(5, 6)]  # distinct, first occurrence order
    assert item_groups([5], "pairwise") == []


def test_pair_rule_all():
    assert item_groups([1, 2, 3], "pairwise", pair_rule="all") == [(1, 2), (1, 3), (2, 3)]


def test_single_response_kinds_and_ranking():
    assert item_groups([3, 4, 3], "thumb") == [(3,), (4,)]
    assert item_groups([3, 4], "judgment") == [(3,), (4,)]
    assert item_groups([3, 4], "ranking") == []  # needs 3+
    assert item_groups([3, 4, 5], "ranking") == [(3, 4, 5)]
    assert item_groups(list(range(25)), "ranking") == [tuple(range(20))]  # capped at 20


def test_params_defaults_and_errors_name_the_field(project):
    params = generation_params_clean(project=project, data={})
    assert (params.per_prompt, params.max_new_tokens, params.temperature, params.top_p) == (2, 128, 0.8, 0.95)
    assert params.kinds == tuple(project.kinds)
    assert generation_params_clean(project=project, data={"kinds": "thumb, pairwise"}).kinds == ("pairwise", "thumb")
    with pytest.raises(ValidationError) as exc:
        generation_params_clean(
            project=project,
            data={"per_prompt": 0, "top_p": 0, "temperature": "hot", "kinds": ["essay"], "limit": 0, "colour": 1},
        )
    errors = exc.value.message_dict
    assert set(errors) == {"per_prompt", "top_p", "temperature", "kinds", "limit", "params"}
    assert "essay" in errors["kinds"][0]
    assert "colour" in errors["params"][0]


def test_fingerprint_depends_on_model_and_sampling_only(project):
    a = generation_params_clean(project=project, data={"seed": 1, "limit": 3})
    b = generation_params_clean(project=project, data={"seed": 1, "limit": 9, "kinds": ["thumb"]})
    c = generation_params_clean(project=project, data={"seed": 2})
    assert generation_fingerprint(model_name="m", params=a) == generation_fingerprint(model_name="m", params=b)
    assert generation_fingerprint(model_name="m", params=a) != generation_fingerprint(model_name="m", params=c)
    assert generation_fingerprint(model_name="m", params=a) != generation_fingerprint(model_name="n", params=a)


# -------------------------------------------------------- scripted model


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the job machinery catches it."""


@pytest.fixture
def fake_model(monkeypatch):
    """A model whose outputs are scripted by prompt text; records its calls."""
    from curation.llm import generate as generate_module
    from curation.llm import runtime

    calls = []
    script = {}
    state = {"kill_on_call": None}

    def fake_generate(loaded, conversations, *, n, temperature, top_p, max_new_tokens, seed, batch_size, on_batch):
        calls.append([c[-1]["content"] for c in conversations])
        if state["kill_on_call"] == len(calls):
            raise Killed()
        out = []
        for conv in conversations:
            q = conv[-1]["content"]
            texts = script.get(q) or [f"{q} answer {i}" for i in range(n)]
            out.append([SimpleNamespace(text=t, n_tokens=len(t.split()), finished=True) for t in texts[:n]])
        on_batch(len(conversations), len(conversations))
        return out

    monkeypatch.setattr(generate_module, "generate", fake_generate)
    monkeypatch.setattr(runtime, "get_model", lambda name=None: SimpleNamespace(name=name or "fake-model"))
    return SimpleNamespace(calls=calls, script=script, state=state)


def counts(project):
    return {
        "responses": Response.objects.filter(prompt__project=project).count(),
        "items": dict(Counter(Item.objects.filter(project=project).values_list("kind", flat=True))),
        "generations": PromptGeneration.objects.filter(prompt__project=project).count(),
    }


def test_generate_records_dedups_and_builds_items(project, fake_model):
    p1, p2, p3 = add_prompts(project, ["q1", "q2", "q3"])
    fake_model.script["q1"] = ["same", "same", "other", "third"]  # one duplicate sample
    fake_model.script["q2"] = ["", "only", "   ", "only"]  # empty samples dropped
    ResponseFactory(prompt=p3, text="q3 answer 0")  # already there (imported): reused, not duplicated
    params = {"per_prompt": 4, "max_new_tokens": 9, "temperature": 0.5, "top_p": 0.9, "seed": 3, "prompts_per_batch": 2}
    job = run_job(job_create(project=project, kind="generate", params=params, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    assert fake_model.calls == [["q1", "q2"], ["q3"]]  # chunks of prompts_per_batch

    same = Response.objects.get(prompt=p1, text="same")
    assert same.source == "generated"
    assert same.model_name == "fake-model"
    gp = same.generation_params
    assert (gp["temperature"], gp["top_p"], gp["max_new_tokens"], gp["seed"], gp["per_prompt"]) == (0.5, 0.9, 9, 3, 4)
    assert gp["sample_index"] == 0 and gp["fingerprint"] == job.result["fingerprint"]
    assert same.metadata["job"] == str(job.uuid)
    assert list(Response.objects.filter(prompt=p1).order_by("id").values_list("text", flat=True)) == [
        "same",
        "other",
        "third",
    ]
    assert list(Response.objects.filter(prompt=p2).values_list("text", flat=True)) == ["only"]
    assert Response.objects.filter(prompt=p3).count() == 4  # 1 imported + 3 new
    gen = PromptGeneration.objects.get(prompt=p1)
    assert len(gen.response_ids) == 4 and gen.response_ids[0] == gen.response_ids[1] == same.pk

    # items: p1 distinct [same, other, third] -> 1 pair, 3 thumbs, 3 judgments, 1 ranking;
    # p2 [only] -> 1 thumb, 1 judgment; p3 4 distinct -> 2 pairs, 4 thumbs, 4 judgments, 1 ranking.
    assert counts(project) == {
        "responses": 3 + 1 + 4,
        "items": {"pairwise": 3, "thumb": 8, "judgment": 8, "ranking": 2},
        "generations": 3,
    }
    pair = Item.objects.get(project=project, kind="pairwise", prompt=p1)
    assert [r.text for r in pair.ordered_responses()] == ["same", "other"]
    assert job.result["responses_created"] == 3 + 1 + 3
    assert job.result["duplicates"] == 2  # p1's repeat and p2's repeat
    assert job.result["items_created"] == {"pairwise": 3, "thumb": 8, "judgment": 8, "ranking": 2}
    assert (job.progress_done, job.progress_total) == (3, 3)

    # Re-running the same job parameters creates nothing and calls no model.
    before = counts(project)
    again = run_job(job_create(project=project, kind="generate", params=params, enqueue=False).pk)
    assert again.status == "succeeded"
    assert again.result["prompts"] == 0
    assert counts(project) == before
    assert len(fake_model.calls) == 2


def test_limit_and_kinds(project, fake_model):
    add_prompts(project, ["a", "b", "c"])
    params = {"limit": 2, "per_prompt": 2, "kinds": ["pairwise"]}
    job = run_job(job_create(project=project, kind="generate", params=params, enqueue=False).pk)
    assert job.result["prompts"] == 2
    assert counts(project) == {"responses": 4, "items": {"pairwise": 2}, "generations": 2}
    # The next run takes the prompt that is left.
    run_job(job_create(project=project, kind="generate", params=params, enqueue=False).pk)
    assert counts(project) == {"responses": 6, "items": {"pairwise": 3}, "generations": 3}


def test_items_are_not_duplicated_when_an_import_holds_the_same_pair(project, fake_model):
    (p,) = add_prompts(project, ["q"])
    a = ResponseFactory(prompt=p, text="q answer 0")
    b = ResponseFactory(prompt=p, text="q answer 1")
    imported = Item.objects.create(
        project=project,
        kind="pairwise",
        prompt=p,
        # the importer's rule: kind, prompt hash, sorted response hashes
        content_hash=content_hash(["pairwise", p.content_hash, sorted([a.content_hash, b.content_hash])]),
    )
    ItemResponse.objects.bulk_create(
        [ItemResponse(item=imported, response=b, position=0), ItemResponse(item=imported, response=a, position=1)]
    )
    run_job(job_create(project=project, kind="generate", params={"kinds": ["pairwise"]}, enqueue=False).pk)
    assert Item.objects.filter(project=project).count() == 1


def test_a_killed_run_resumes_its_own_plan_without_duplicates(project, fake_model, django_db_blocker):
    add_prompts(project, [f"q{i}" for i in range(5)])
    params = {"per_prompt": 2, "prompts_per_batch": 2, "limit": 4}
    job = job_create(project=project, kind="generate", params=params, enqueue=False)
    fake_model.state["kill_on_call"] = 2  # dies while generating the second chunk
    with pytest.raises(Killed):
        run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "running" and job.progress_done == 2
    assert counts(project)["generations"] == 2
    # the shard in flight is still held by the dead run
    assert list(job.shards.values_list("status", flat=True)) == ["done", "running"]
    # A new prompt arrives meanwhile: the resumed run keeps to its plan (limit 4 of the first 4).
    add_prompts(project, ["late"])
    stale = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    job.shards.update(heartbeat_at=stale)  # its holder stopped heartbeating
    fake_model.state["kill_on_call"] = None
    ended = run_job(job.pk)
    assert ended.status == "succeeded"
    assert list(ended.shards.values_list("attempts", flat=True)) == [1, 2]  # the dead run's shard, taken over
    assert "shard 1 re-claimed" in ended.log_tail
    assert fake_model.calls == [["q0", "q1"], ["q2", "q3"], ["q2", "q3"]]
    assert counts(project) == {
        "responses": 8,
        "items": {"pairwise": 4, "thumb": 8, "judgment": 8},
        "generations": 4,
    }
    assert ended.result["responses_created"] == 8


def test_command_runs_the_job_with_a_progress_bar(project, fake_model):
    add_prompts(project, ["x", "y"])
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "generate_candidates",
        project.slug,
        "--per-prompt",
        "3",
        "--kinds",
        "thumb",
        "--seed",
        "5",
        stdout=out,
        stderr=err,
    )
    assert "succeeded: 2 prompt(s), 6 new response(s)" in out.getvalue()
    assert "2/2" in err.getvalue()  # tqdm's bar
    job = Job.objects.get()
    assert job.params == {"per_prompt": 3, "kinds": "thumb", "seed": 5}
    with pytest.raises(CommandError, match="per_prompt"):
        call_command("generate_candidates", project.slug, "--per-prompt", "99")
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("generate_candidates", "nope")


def test_run_job_command(project, fake_model):
    add_prompts(project, ["x"])
    job = job_create(project=project, kind="generate", enqueue=False)
    out = io.StringIO()
    call_command("run_job", str(job.uuid), stdout=out, stderr=io.StringIO())
    assert "succeeded" in out.getvalue()
    with pytest.raises(CommandError, match="is succeeded"):
        call_command("run_job", str(job.uuid), stderr=io.StringIO())
    with pytest.raises(CommandError, match="no job"):
        call_command("run_job", "not-a-uuid")


# ------------------------------------------------------------ real model


@pytest.mark.slow
def test_real_default_model_generates_and_rerun_adds_nothing(project, settings):
    settings.DOCKET_TORCH_THREADS = 1
    add_prompts(project, ["What is the capital of France?", "Name a colour."])
    params = {"per_prompt": 2, "max_new_tokens": 8, "temperature": 0.9, "seed": 1, "kinds": ["pairwise", "thumb"]}
    job = run_job(job_create(project=project, kind="generate", params=params, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    responses = list(Response.objects.filter(prompt__project=project))
    assert 2 <= len(responses) <= 4
    for r in responses:
        assert r.text.strip()
        assert r.source == "generated"
        assert r.model_name.startswith("SmolLM2-135M-Instruct")
        assert r.generation_params["max_new_tokens"] == 8
        assert r.generation_params["temperature"] == 0.9
        assert 1 <= r.generation_params["n_tokens"] <= 8
    assert Item.objects.filter(project=project, kind="thumb").count() == len(responses)
    before = counts(project)
    again = run_job(job_create(project=project, kind="generate", params=params, enqueue=False).pk)
    assert again.status == "succeeded" and again.result["prompts"] == 0
    assert counts(project) == before
