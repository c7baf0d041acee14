"""The encode job: which responses it encodes, what it stores, idempotency,
resume and cancel (with a scripted encoder); pair_ches on hand-worked
vectors; the command; and the real default model through ``run_job`` and
through a real Celery worker (slow)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from annotate.models import Response
from curation.ches.params import encode_params_clean
from curation.ches.selectors import encodings_for, pair_ches
from curation.ches.services import encode_create
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.llm.identity import model_identity
from curation.llm.runtime import resolve_name
from curation.models import Job, ResponseEncoding
from tests.factories import make_item

DEFAULT = None  # the project's model is unset: the default model


def vec(*values) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def fake_vector(text: str) -> tuple[np.ndarray, int]:
    return np.array([len(text), 1.0, -2.0], dtype=np.float32), len(text.split()) + 1


@pytest.fixture
def scripted(monkeypatch, no_heartbeat_thread):
    """The model calls answered without a model: a vector made from the text."""
    from curation.llm import encode, runtime

    class Calls(list):
        steps: list[int]

    calls = Calls()

    def encode_many(loaded, prompts, *, batch_size=None, on_batch=None):
        if on_batch is not None:
            on_batch(0, len(prompts))
        calls.extend((conversation[0]["content"], list(responses), batch_size) for conversation, responses in prompts)
        steps.append(len(prompts))
        return [[fake_vector(t) for t in responses] for _conversation, responses in prompts]

    steps = calls.steps = []
    monkeypatch.setattr(encode, "encode_many", encode_many)
    monkeypatch.setattr(runtime, "get_model", lambda name=None: SimpleNamespace(name=name, device="cpu"))
    return calls


def encode_job(project, **params) -> Job:
    job = run_job(job_create(project=project, kind="encode", params=params, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    return job


def rows(project):
    return ResponseEncoding.objects.filter(response__prompt__project=project)


# ------------------------------------------------------------------ params


def test_params_defaults_and_errors_name_the_field():
    assert encode_params_clean(data={}) == encode_params_clean(data=None)
    assert encode_params_clean(data={"batch_size": "4", "limit": 2}).batch_size == 4
    with pytest.raises(ValidationError) as info:
        encode_params_clean(data={"batch_size": 0, "limit": "x", "model": "m"})
    assert set(info.value.message_dict) == {"batch_size", "limit", "params"}
    with pytest.raises(ValidationError):
        encode_params_clean(data={"batch_size": 65})
    with pytest.raises(ValidationError):
        encode_params_clean(data={"batch_size": 2.5})


def test_encode_create_validates_and_queues(project):
    job = encode_create(project=project, user=None, params={"batch_size": 3})
    assert (job.kind, job.status, job.params) == ("encode", "queued", {"batch_size": 3, "limit": None})
    with pytest.raises(ValidationError):
        encode_create(project=project, user=None, params={"batch_size": -1})
    project.model_name = "/no/such/model"
    with pytest.raises(ValidationError) as info:
        encode_create(project=project, user=None, params={})
    assert "model" in info.value.message_dict


# ------------------------------------------------------------------ runner (scripted)


def test_encodes_pair_responses_once_per_prompt(project, scripted):
    pair = make_item(project, "pairwise", texts=["short", "a longer answer here"])
    ranking = make_item(project, "ranking", texts=["one", "two two", "three three three"])
    thumb = make_item(project, "thumb", texts=["thumb only"])
    job = encode_job(project, batch_size=2)
    model = model_identity(resolve_name(DEFAULT))
    assert sorted(rows(project).values_list("response__text", flat=True)) == sorted(
        ["short", "a longer answer here", "one", "two two", "three three three"]
    )
    assert not rows(project).filter(response__prompt=thumb.prompt).exists()
    # one encoder call per prompt, with the prompt's conversation and the batch size
    assert sorted((c[0], sorted(c[1]), c[2]) for c in scripted) == sorted(
        [
            (pair.prompt.messages[0]["content"], ["a longer answer here", "short"], 2),
            (ranking.prompt.messages[0]["content"], ["one", "three three three", "two two"], 2),
        ]
    )
    row = rows(project).get(response__text="a longer answer here")
    assert (row.model_name, row.dim, row.n_tokens, row.job_id) == (model, 3, 5, job.pk)
    assert np.array_equal(row.as_array(), [20.0, 1.0, -2.0])
    assert job.result == {
        "model": model,
        "prompts": 2,
        "responses_in_scope": 5,
        "responses_encoded": 5,
        "already_encoded": 0,
        "tokens": 2 + 5 + 2 + 3 + 4,
        "dim": 3,
    }
    assert (job.progress_done, job.progress_total) == (2, 2)


def test_rerun_stores_nothing_and_keeps_existing_rows(project, scripted):
    item = make_item(project, "pairwise", texts=["x", "y"])
    first, second = item.ordered_responses()
    model = model_identity(resolve_name(DEFAULT))
    # an encoding stored before (e.g. by another job) is kept as it is
    ResponseEncoding.objects.create(response=first, model_name=model, dim=3, n_tokens=9, vector=vec(7, 7, 7))
    # an encoding for another model does not count
    ResponseEncoding.objects.create(response=second, model_name="other", dim=1, n_tokens=1, vector=vec(1))
    job = encode_job(project)
    assert job.result["responses_encoded"] == 1 and job.result["already_encoded"] == 1
    assert [c[1] for c in scripted] == [["y"]]
    assert scripted[0][2] == 4  # no batch size given: 4 on CPU
    kept = ResponseEncoding.objects.get(response=first, model_name=model)
    assert (kept.n_tokens, kept.job_id) == (9, None)
    before = list(rows(project).order_by("id").values_list("id", "created_at"))
    again = encode_job(project)
    assert again.result["responses_encoded"] == 0 and again.result["prompts"] == 0
    assert again.result["already_encoded"] == 2
    assert list(rows(project).order_by("id").values_list("id", "created_at")) == before
    assert len(scripted) == 1


def test_prompts_of_a_step_are_encoded_together(project, scripted, settings):
    settings.DOCKET_ENCODE_SHARD_PROMPTS = 2
    for i in range(5):
        make_item(project, "pairwise", texts=[f"a{i}", f"b{i}"])
    job = encode_job(project)
    assert scripted.steps == [2, 2, 1]
    assert [sorted(c[1]) for c in scripted] == [[f"a{i}", f"b{i}"] for i in range(5)]
    assert job.result["responses_encoded"] == 10 and (job.progress_done, job.progress_total) == (5, 5)


def test_limit_and_cancel_between_prompts_then_resume_the_rest(project, scripted, settings):
    settings.DOCKET_ENCODE_SHARD_PROMPTS = 1
    for i in range(4):
        make_item(project, "pairwise", texts=[f"a{i}", f"b{i}"])
    limited = encode_job(project, limit=1)
    assert limited.result["prompts"] == 1 and rows(project).count() == 2

    job = job_create(project=project, kind="encode", params={}, enqueue=False)

    def cancel_after_first(current):
        if current.progress_done >= 1:
            Job.objects.filter(pk=current.pk).update(cancel_requested=True)

    ended = run_job(job.pk, on_progress=cancel_after_first)
    assert ended.status == "cancelled"
    # the worker stops before its next shard: the shard committed before the cancel stays, the rest untouched
    assert ended.progress_done == 1 and ended.progress_total == 3
    assert list(ended.shards.values_list("status", flat=True)) == ["done", "pending", "pending"]
    assert rows(project).count() == 2 + 2
    finished = encode_job(project)
    assert finished.result["prompts"] == 2 and finished.result["responses_encoded"] == 4
    assert rows(project).count() == 8


def test_resumed_run_skips_prompts_done_by_its_earlier_run(project, scripted):
    for i in range(2):
        make_item(project, "pairwise", texts=[f"a{i}", f"b{i}"])
    job = job_create(project=project, kind="encode", params={}, enqueue=False)
    assert run_job(job.pk).status == "succeeded"
    scripted.clear()
    # as if the worker had died after the last commit: run it again
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=None)
    again = run_job(job.pk)
    assert again.status == "succeeded" and scripted == []
    assert again.result["responses_encoded"] == 4 and again.attempts == 2


# ------------------------------------------------------------------ readers


def test_pair_ches_hand_worked_and_missing_is_nan(project):
    """docs/algorithms.md#ches: S+ = (2, 2), |y+| = 3; S- = (4, 1), |y-| = 2 → CHES 2, LN-CHES 10/6 − 8/9."""
    item = make_item(project, "ranking", texts=["pos", "neg", "unencoded"])
    pos, neg, missing = item.ordered_responses()
    ResponseEncoding.objects.create(response=pos, model_name="m", dim=2, n_tokens=3, vector=vec(2, 2))
    ResponseEncoding.objects.create(response=neg, model_name="m", dim=2, n_tokens=2, vector=vec(4, 1))
    c, ln = pair_ches(
        pairs=[(pos.pk, neg.pk), (neg.pk, pos.pk), (pos.pk, pos.pk), (pos.pk, missing.pk)], model_name="m"
    )
    assert c[0] == pytest.approx(2.0) and ln[0] == pytest.approx(10 / 6 - 8 / 9)
    # asymmetric: <S-, S+> − ||S-||² = 10 − 17
    assert c[1] == pytest.approx(-7.0) and ln[1] == pytest.approx(10 / 6 - 17 / 4)
    assert c[2] == 0.0 and ln[2] == 0.0
    assert np.isnan(c[3]) and np.isnan(ln[3])
    other = pair_ches(pairs=[(pos.pk, neg.pk)], model_name="another model")
    assert np.isnan(other[0][0]) and np.isnan(other[1][0])
    empty = pair_ches(pairs=[], model_name="m")
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
    got = encodings_for(response_ids=[pos.pk, neg.pk, missing.pk, pos.pk], model_name="m")
    assert set(got) == {pos.pk, neg.pk}
    assert got[neg.pk][0].dtype == np.float64 and np.array_equal(got[neg.pk][0], [4.0, 1.0])
    assert got[neg.pk][1] == 2


# ------------------------------------------------------------------ command


def test_command_runs_here_and_reports(project, scripted):
    make_item(project, "pairwise", texts=["p", "q"])
    out = io.StringIO()
    call_command("encode", project.slug, "--batch-size", "3", "--quiet", stdout=out, stderr=io.StringIO())
    assert "encode job" in out.getvalue() and "2 response(s) encoded over 1 prompt(s)" in out.getvalue()
    assert rows(project).count() == 2
    assert scripted[0][2] == 3
    with pytest.raises(CommandError, match="batch_size"):
        call_command("encode", project.slug, "--batch-size", "0", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no project"):
        call_command("encode", "no-such-project", stdout=io.StringIO())


def test_command_enqueue_creates_a_queued_job(project, scripted):
    out = io.StringIO()
    call_command("encode", project.slug, "--enqueue", stdout=out)
    job = Job.objects.get(project=project, kind="encode")
    assert job.status == "queued" and str(job.uuid) in out.getvalue()


# ------------------------------------------------------------------ real model


@pytest.mark.slow
def test_real_model_job_end_to_end_and_idempotent(project, no_heartbeat_thread):
    import torch

    from curation.llm.encode import encode_dtype, encode_reference
    from curation.llm.runtime import get_model

    pair = make_item(project, "pairwise", texts=["Paris.", "The capital of France is Paris, a large city."])
    make_item(project, "ranking", texts=["4", "Four.", "2 + 2 = 4"])
    job = encode_job(project, batch_size=2)
    assert job.result["responses_encoded"] == 5 and job.result["dim"] == 576
    loaded = get_model(None)
    texts = [r.text for r in pair.ordered_responses()]
    reference = encode_reference(loaded, pair.prompt.messages, texts)  # float32, unbatched
    # The job's default path: float32 rounding, or bfloat16 products on a CPU with native bfloat16
    # (curation.llm.encode.encode_dtype; the tolerance of tests/llm/test_ches_real.py).
    tol = 2e-2 if encode_dtype(loaded) != torch.float32 else 1e-4
    for response, (ref, n) in zip(pair.ordered_responses(), reference, strict=True):
        row = ResponseEncoding.objects.get(response=response)
        assert row.n_tokens == n and row.dim == ref.shape[0]
        assert np.linalg.norm(row.as_array() - ref) / np.linalg.norm(ref) < tol
    again = encode_job(project)
    assert again.result["responses_encoded"] == 0 and rows(project).count() == 5


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_an_encode_job(live_worker):
    from tests.factories import ProjectFactory

    project = ProjectFactory()
    make_item(project, "pairwise", texts=["Yes.", "No, not at all."])
    job = encode_create(project=project, user=None, params={"batch_size": 2})  # autocommit: enqueued at once

    def ended():
        job.refresh_from_db()
        return job.status in Job.ENDED

    live_worker.wait_for(ended, timeout=300, what="the encode job to end")
    assert job.status == "succeeded", job.error
    assert job.result["responses_encoded"] == 2
    stored = ResponseEncoding.objects.filter(response__in=Response.objects.filter(prompt__project=project))
    assert stored.count() == 2 and set(stored.values_list("job_id", flat=True)) == {job.pk}


# ------------------------------------------------------------------ model identity


def test_encodings_follow_the_model_not_its_path(project, scripted, settings, tmp_path):
    """A new checkout (the model file elsewhere, same bytes) reuses the encodings; other weights re-encode."""
    settings.DOCKET_MODEL_CACHE = str(tmp_path / "cache")
    paths = []
    for checkout, data in (("a", b"weights"), ("b", b"weights"), ("c", b"other weights")):
        path = tmp_path / checkout / ".venv" / "model.gguf"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        paths.append(str(path))
    make_item(project, "pairwise", texts=["x", "y"])
    project.model_name = paths[0]
    project.save()
    first = encode_job(project)
    assert first.result["responses_encoded"] == 2
    assert first.result["model"] == model_identity(paths[0]) and first.result["model"].startswith("model@")
    assert set(rows(project).values_list("model_name", flat=True)) == {first.result["model"]}
    project.model_name = paths[1]
    project.save()
    again = encode_job(project)
    assert (again.result["responses_encoded"], again.result["already_encoded"]) == (0, 2)
    project.model_name = paths[2]
    project.save()
    changed = encode_job(project)
    assert changed.result["responses_encoded"] == 2 and changed.result["model"] != first.result["model"]


def test_migration_rekeys_path_rows_to_the_identity(project, settings, tmp_path):
    import importlib

    from django.apps import apps

    settings.DOCKET_MODEL_CACHE = str(tmp_path / "cache")
    path = tmp_path / "model.gguf"
    path.write_bytes(b"weights")
    item = make_item(project, "pairwise", texts=["x", "y"])
    x, y = item.ordered_responses()
    key = model_identity(str(path))
    ResponseEncoding.objects.create(response=x, model_name=str(path), dim=1, n_tokens=1, vector=vec(1))
    ResponseEncoding.objects.create(response=y, model_name=str(path), dim=1, n_tokens=1, vector=vec(2))
    ResponseEncoding.objects.create(response=y, model_name=key, dim=1, n_tokens=1, vector=vec(3))
    ResponseEncoding.objects.create(response=x, model_name="/gone/venv/model.gguf", dim=1, n_tokens=1, vector=vec(4))
    migration = importlib.import_module("curation.migrations.0004_encoding_model_identity")
    migration.rekey(apps, None)
    got = {(r.response_id, r.model_name): r.as_array().tolist() for r in rows(project)}
    assert got == {(x.pk, key): [1.0], (y.pk, key): [3.0], (x.pk, "/gone/venv/model.gguf"): [4.0]}


def test_model_loading_is_its_own_step_with_elapsed_time(project, scripted, monkeypatch):
    """The job page shows "Step 1: loading the model (N s)" while the model loads, then real progress."""
    import time

    from curation.llm import runtime

    def slow_model(name=None):
        time.sleep(2.3)
        return SimpleNamespace(name="slow-model", device="cpu", from_cache=True)

    monkeypatch.setattr(runtime, "get_model", slow_model)
    monkeypatch.setattr(runtime, "_MODELS", {})  # not loaded in this process yet
    make_item(project, "pairwise", texts=["x", "y"])
    messages = []
    job = job_create(project=project, kind="encode", params={}, enqueue=False)
    ended = run_job(job.pk, on_progress=lambda current: messages.append(current.message))
    assert ended.status == "succeeded", ended.error
    # planning (no model needed) comes first, then each worker's first step is loading the model
    loading = messages.index("Step 1: loading the model")
    assert set(messages[:loading]) <= {"Running", "1 shard(s) waiting for workers"}
    messages = messages[loading:]
    ticks = [m for m in messages if m.startswith("Step 1: loading the model (")]
    seconds = [int(m.rsplit("(", 1)[1].split()[0]) for m in ticks]
    assert seconds and seconds == sorted(seconds) and 1 <= seconds[-1] <= 10  # the load took 2.3 s
    assert any(m.startswith("Model loaded in ") for m in messages)
    assert "loaded in" in ended.log_tail and "from the converted cache" in ended.log_tail
    assert "torch thread(s)" in ended.log_tail
    # then the prompts: in-step progress and the step's count
    first = messages.index("Encoding prompts 1–1 of 1")
    assert first > messages.index(next(m for m in messages if m.startswith("Model loaded in ")))
    assert any(m.startswith("1 of 1 prompts") for m in messages[first:])
