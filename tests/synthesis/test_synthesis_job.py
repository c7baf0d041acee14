"""The synthesis job: parameters, weighted system prompts, Magpie-DPO pair
rule, storing, resuming and taking a dead finisher over (scripted sampler), and the real default model
(slow): embeddings, tags, filters on constructed inputs, a small job with
de-duplication against the project's prompts, and Magpie-DPO pairs."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from annotate.models import Annotation, Item, Prompt, Source, content_hash
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.llm.judge import ranking_from_pairwise
from curation.models import Job, JobShard, SynthesizedInstruction
from curation.synthesis import runner as synthesis
from curation.synthesis.filters import Candidate, FilterConfig, apply_filters, normalised_hash
from curation.synthesis.params import SynthesisParams, synthesis_params_clean, system_prompts_parse
from curation.synthesis.runner import dpo_pair, system_prompt_for


@pytest.fixture
def no_heartbeat_thread(settings):
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    return settings


def add_prompt(project, text):
    messages = [{"role": "user", "content": text}]
    return Prompt.objects.create(project=project, messages=messages, content_hash=content_hash(messages))


# ------------------------------------------------------------ parameters


def test_system_prompts_parse_weights_and_errors():
    assert system_prompts_parse("3 | You are a math tutor.\n\nBe brief. | really\n") == [
        ("You are a math tutor.", 3.0),
        ("Be brief. | really", 1.0),  # no number before '|': the whole line is the text
    ]
    assert system_prompts_parse([{"text": "A", "weight": 0.5}, ["B", 2]]) == [("A", 0.5), ("B", 2.0)]
    assert system_prompts_parse("") == []
    with pytest.raises(ValueError, match="positive"):
        system_prompts_parse("0 | zero weight")
    with pytest.raises(ValueError, match="empty"):
        system_prompts_parse("2 | ")


def test_params_defaults_and_errors_name_the_field(project):
    params = synthesis_params_clean(project=project, data={})
    assert (params.n, params.temperature, params.top_p, params.max_new_tokens) == (32, 1.0, 1.0, 64)
    assert params.languages == ("en",) and params.tags and params.responses == 0
    assert synthesis_params_clean(project=project, data={"languages": ""}).languages == ()
    with pytest.raises(ValidationError) as exc:
        synthesis_params_clean(
            project=project,
            data={
                "n": 0,
                "top_p": 0,
                "languages": "english",
                "min_input_quality": "great",
                "response_mode": "rlhf",
                "kinds": ["essay"],
                "system_prompts": "-1 | x",
                "colour": "red",
            },
        )
    assert set(exc.value.message_dict) == {
        "n",
        "top_p",
        "languages",
        "min_input_quality",
        "response_mode",
        "kinds",
        "system_prompts",
        "params",
    }
    with pytest.raises(ValidationError) as exc:
        synthesis_params_clean(project=project, data={"min_chars": 50, "max_chars": 10, "responses": 1})
    assert set(exc.value.message_dict) == {"max_chars"}
    with pytest.raises(ValidationError) as exc:
        synthesis_params_clean(project=project, data={"responses": 1, "response_mode": "dpo"})
    assert set(exc.value.message_dict) == {"responses"}
    with pytest.raises(ValidationError) as exc:
        synthesis_params_clean(project=project, data={"tags": False, "min_input_quality": "good"})
    assert set(exc.value.message_dict) == {"tags"}


def test_weighted_system_prompts_are_drawn_by_weight_and_reproducibly():
    params = SynthesisParams(system_prompts=(("math", 3.0), ("code", 1.0)), seed=5)
    draws = [system_prompt_for(params, i) for i in range(4000)]
    assert draws == [system_prompt_for(params, i) for i in range(4000)]
    share = Counter(draws)["math"] / len(draws)
    assert share == pytest.approx(0.75, abs=0.03)  # binomial sd ≈ 0.007
    assert system_prompt_for(SynthesisParams(), 3) == ""


def test_dpo_pair_best_against_worst_and_ties_dropped():
    # response 1 beats both others, 0 beats 2: order 1 > 0 > 2
    p = np.array([[0.5, 0.3, 0.8], [0.7, 0.5, 0.9], [0.2, 0.1, 0.5]])
    assert dpo_pair(ranking_from_pairwise(p)) == (1, 2)
    assert dpo_pair(ranking_from_pairwise(np.full((3, 3), 0.5))) is None  # all tied
    assert dpo_pair(ranking_from_pairwise(np.array([[0.5]]))) is None  # one distinct response


# ------------------------------------------------------------ scripted sampler

SCRIPT = [
    Candidate("How do I reverse a linked list in Python?"),
    Candidate("Here is the list of steps to follow:"),
    Candidate("What is the capital of France?"),  # the project already has it
    Candidate("Explain why the sky is blue to a child.", finished=False),
    Candidate("how do I reverse a linked list in python"),  # exact duplicate of #0 after normalising
    Candidate("Name three prime numbers larger than fifty."),
]


@pytest.fixture
def scripted(monkeypatch):
    from curation.llm import runtime

    calls = []

    def fake_sample(loaded, params, indices, *, seed, batch_size=None, on_batch=None):
        calls.append((list(indices), seed))
        return [
            Candidate(
                SCRIPT[i].text,
                finished=SCRIPT[i].finished,
                meta={"index": i, "n_tokens": len(SCRIPT[i].text.split()), "system_prompt": ""},
            )
            for i in indices
        ]

    monkeypatch.setattr(synthesis, "sample_instructions", fake_sample)
    fake = SimpleNamespace(name="fake-model", extra={}, require_local=lambda what: None)
    monkeypatch.setattr(runtime, "get_model", lambda name=None: fake)
    return calls


NO_MODEL = {"n": 6, "batch_size": 4, "near_duplicate_distance": 0, "tags": False, "seed": 11}


@pytest.mark.django_db
@pytest.mark.usefixtures("no_heartbeat_thread")
def test_job_stores_prompts_and_every_rejection(project, scripted):
    add_prompt(project, "What is the capital of France?")
    job = job_create(project=project, kind="synthesize", params=NO_MODEL, enqueue=False)
    job = run_job(job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert scripted == [([0, 1, 2, 3], 11), ([4, 5], 12)]  # batches, seed + batch number
    rows, made = _expected_rows(job)
    assert rows[0].prompt == made[0] and rows[5].prompt == made[1]
    meta = made[0].metadata["synthesis"]
    assert meta["job"] == str(job.uuid) and meta["model"] == "fake-model" and meta["temperature"] == 1.0
    assert job.result["accepted"] == 2 and job.result["sampled"] == 6
    assert job.result["rejected"]["duplicate"] == 2
    assert (job.progress_done, job.progress_total) == (6, 6)


def _expected_rows(job):
    rows = {s.index: s for s in SynthesizedInstruction.objects.filter(job=job)}
    assert {i: (r.accepted, r.reason) for i, r in rows.items()} == {
        0: (True, ""),
        1: (False, "ends_with_colon"),
        2: (False, "duplicate"),
        3: (False, "truncated"),
        4: (False, "duplicate"),  # across shards: #0 was accepted in the first
        5: (True, ""),
    }
    made = Prompt.objects.filter(project=job.project, source=Source.SYNTHESIZED).order_by("id")
    assert [p.text for p in made] == [SCRIPT[0].text, SCRIPT[5].text]
    assert job.result["accepted"] == 2 and job.result["prompts_created"] == 2 and job.result["sampled"] == 6
    return rows, made


@pytest.mark.django_db
@pytest.mark.usefixtures("no_heartbeat_thread")
def test_resume_runs_only_the_shards_left(project, scripted, monkeypatch):
    add_prompt(project, "What is the capital of France?")
    job = job_create(project=project, kind="synthesize", params=NO_MODEL, enqueue=False)
    fake = synthesis.sample_instructions

    def dies_on_the_second_shard(loaded, params, indices, **kwargs):
        if indices[0] == 4:
            raise KeyboardInterrupt  # the worker stops in the middle of shard 1
        return fake(loaded, params, indices, **kwargs)

    monkeypatch.setattr(synthesis, "sample_instructions", dies_on_the_second_shard)
    with pytest.raises(KeyboardInterrupt):
        run_job(job.pk)
    assert list(JobShard.objects.filter(job=job).order_by("index").values_list("status", flat=True)) == [
        "done",
        "pending",
    ]
    assert not SynthesizedInstruction.objects.filter(job=job).exists()  # stored once every shard is sampled
    monkeypatch.setattr(synthesis, "sample_instructions", fake)
    scripted.clear()
    job = run_job(job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert scripted == [([4, 5], 12)]  # only the shard left, with its own seed
    _expected_rows(job)


@pytest.mark.django_db
@pytest.mark.usefixtures("no_heartbeat_thread")
def test_a_finisher_that_died_is_taken_over_and_replays_the_stored_batches(project, scripted, monkeypatch):
    add_prompt(project, "What is the capital of France?")
    job = job_create(project=project, kind="synthesize", params=NO_MODEL, enqueue=False)
    store = synthesis.synthesized_store
    calls = []

    def dies_after_the_first_batch(**kwargs):
        calls.append(kwargs["report"])
        if len(calls) == 2:
            raise SystemExit  # the finisher's process ends after storing shard 0's batch
        return store(**kwargs)

    monkeypatch.setattr(synthesis, "synthesized_store", dies_after_the_first_batch)
    with pytest.raises(SystemExit):
        run_job(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.checkpoint["stored_next"] == 1
    assert SynthesizedInstruction.objects.filter(job=job).count() == 4
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))  # its run is dead
    monkeypatch.setattr(synthesis, "synthesized_store", store)
    scripted.clear()
    job = run_job(job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert scripted == []  # nothing sampled again
    _expected_rows(job)


@pytest.mark.django_db
def test_command_rejects_bad_options_before_creating_a_job(project):
    with pytest.raises(CommandError, match="top_p"):
        call_command("synthesize", project.slug, "--n", "2", "--top-p", "0", "--quiet")
    with pytest.raises(CommandError, match="no project"):
        call_command("synthesize", "no-such-project", "--n", "2")
    assert not Job.objects.exists()


# ------------------------------------------------------------ the real model


@pytest.fixture(scope="module")
def llm():
    from curation.llm.runtime import get_model

    return get_model(None)


@pytest.mark.slow
def test_embeddings_put_paraphrases_close_and_batching_changes_nothing(llm):
    from curation.synthesis.embed import embed_texts

    texts = [
        "How do I reverse a linked list in Python?",
        "How can I reverse a linked list using Python?",
        "Give me a recipe for chocolate cake.",
        "Write a poem about autumn leaves.",
    ]
    batched = embed_texts(llm, texts, batch_size=4)
    single = np.vstack([embed_texts(llm, [t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-3)
    x = batched / np.linalg.norm(batched, axis=1, keepdims=True)
    d = 2 - 2 * x @ x.T
    assert d[0, 1] < 0.2 < min(d[0, 2], d[0, 3], d[2, 3])


@pytest.mark.slow
def test_near_duplicate_filter_with_the_model_embeddings(llm):
    from curation.synthesis.embed import embed_texts

    existing = ["Write a short poem about autumn leaves."]
    report = apply_filters(
        [
            Candidate("How do I reverse a linked list in Python?"),
            Candidate("How can I reverse a linked list using Python?"),
            Candidate("Give me a recipe for chocolate cake."),
            Candidate("Write a poem about autumn leaves."),
        ],
        config=FilterConfig(near_duplicate_distance=0.2),
        embed=lambda texts: embed_texts(llm, texts),
        existing_vectors=embed_texts(llm, existing),
    )
    assert [c.text for c in report.accepted] == [
        "How do I reverse a linked list in Python?",
        "Give me a recipe for chocolate cake.",
    ]
    assert report.counts["near_duplicate"] == 2


@pytest.mark.slow
def test_tags_shared_prefix_equals_the_full_prompts(llm):
    from curation.synthesis.tags import QUESTIONS, label_probs_batch, label_probs_shared_prefix, tags_for

    texts = ["Solve 3x + 7 = 22 for x.", "Write a poem about the sea, please, with rhymes."]
    for q in QUESTIONS:
        full = label_probs_batch(llm, [q.prompt(t) for t in texts], q.keys)
        shared = label_probs_shared_prefix(llm, q, texts, batch_size=2)
        for a, b in zip(full, shared):
            assert sum(b.values()) == pytest.approx(1.0)
            assert all(a[k] == pytest.approx(b[k], abs=1e-4) for k in q.keys)
    tags = tags_for(llm, texts)
    for tag in tags:
        for q in QUESTIONS:
            assert tag[q.name] in q.values
            assert tag[q.name] == max(tag[q.name + "_p"], key=tag[q.name + "_p"].get)


SMALL = {"n": 4, "batch_size": 4, "max_new_tokens": 40, "seed": 3, "languages": ""}


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("no_heartbeat_thread")
def test_real_model_synthesizes_filters_and_dedups_against_the_project(project, llm):
    params = synthesis_params_clean(project=project, data=SMALL)
    # What the job's first batch will sample (same seed and batch): make the first
    # instruction that passes the cheap filters an existing prompt of the project.
    preview = synthesis.sample_instructions(llm, params, list(range(4)), seed=params.seed)
    passing = apply_filters(
        [Candidate(c.text, c.finished, dict(c.meta)) for c in preview], config=params.filter_config()
    )
    assert passing.accepted, [c.text for c in preview]
    taken = passing.accepted[0]
    add_prompt(project, taken.text.upper() + "!")  # same after normalising
    job = run_job(job_create(project=project, kind="synthesize", params=SMALL, enqueue=False).pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    rows = list(SynthesizedInstruction.objects.filter(job=job).order_by("index"))
    assert [r.text for r in rows] == [c.text.strip() for c in preview]  # reproducible sampling
    assert rows[taken.meta["index"]].reason == "duplicate"
    for r in rows:
        assert r.n_tokens >= 1 and r.accepted == (r.reason == "")
        if r.reason == "truncated":
            assert not r.finished and r.n_tokens == 40
    accepted = [r for r in rows if r.accepted]
    assert len(accepted) == job.result["accepted"] == Prompt.objects.filter(source=Source.SYNTHESIZED).count()
    for r in accepted:
        assert r.prompt.source == Source.SYNTHESIZED and r.prompt.text == r.text
        assert set(r.prompt.tags) == {"input_quality", "difficulty", "category"}
        assert r.min_distance is None or r.min_distance >= 0.2
        assert r.prompt.metadata["synthesis"]["model"] == llm.name
        assert normalised_hash(r.text) != normalised_hash(taken.text)


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("no_heartbeat_thread")
def test_real_model_magpie_dpo_pairs(project, llm):
    data = {
        **SMALL,
        "n": 3,
        "tags": False,
        "near_duplicate_distance": 0,
        "responses": 2,
        "response_mode": "dpo",
        "response_max_new_tokens": 12,
    }
    job = run_job(job_create(project=project, kind="synthesize", params=data, enqueue=False).pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    accepted = job.result["accepted"]
    r = job.result["responses"]
    kept = r.get("dpo_pairs", 0)
    assert kept + r.get("dpo_discarded_tie", 0) + r.get("dpo_discarded_identical", 0) == accepted
    items = Item.objects.filter(project=project, kind="pairwise")
    assert items.count() == kept
    for item in items:
        annotation = Annotation.objects.get(item=item)
        assert annotation.annotator.name.startswith("magpie-dpo: ")
        chosen, rejected = item.ordered_responses()
        scores = annotation.probabilities["scores"]
        assert annotation.choice == "A" and annotation.consistent is True
        assert chosen.text != rejected.text
        assert scores[annotation.probabilities["chosen_index"]] > scores[annotation.probabilities["rejected_index"]]
        assert item.annotation_count == 0  # the judge takes no human slot
    assert job.progress_done == job.progress_total == 3 + accepted
