"""Hidden-state encodings of responses, and CHES of pairs from them (docs/algorithms.md#ches).

``encode_create`` (``curation.ches.services``) validates the parameters
(``curation.ches.params``) and queues the job for the audit overview's
button and ``manage.py encode``; ``responses_encode`` is its runner (model
queue, ``curation.jobs.registry``). Readers (the audit, the exports) use
``encodings_for`` and ``pair_ches`` (``curation.ches.selectors``).

Which responses
    The responses of the project's **pairwise and ranking items** (excluded
    items and probes included): the ones that take part in a (chosen,
    rejected) pair, which is all CHES is defined for. Responses only in
    thumb or written-judgment items are not encoded. A response is encoded
    once per model, given its own prompt, whatever number of items it is in.

Which model
    Always the project's model: ``resolve_name(project.model_name or None)``
    (the default model when the project names none) — the model as it is
    before preference training, as the paper prescribes (docs/algorithms.md#ches). Its
    identity, name + weights digest (``curation.llm.identity.model_identity``,
    e.g. ``SmolLM2-135M-Instruct.Q4_1@3f2a…``), is the ``model_name`` of every
    ``ResponseEncoding`` row and what readers pass back: a new checkout or
    virtualenv reuses the rows, other weights encode again. The HTTP (openai) backend has no hidden
    states: ``encode_create`` refuses it.

What a run does
    1. Plan: the ids of the prompts that have at least one such response
       without an encoding for the model (oldest first, at most ``limit``),
       kept in the job's checkpoint so a resumed run finishes the same plan.
    2. Per step of ``PROMPTS_PER_STEP`` prompts of the plan (progress counts
       prompts): the responses still without an encoding are encoded together
       by ``curation.llm.encode.encode_many`` (each prompt's KV cache shared by
       its responses, the responses of all the step's prompts batched by
       length ``batch_size`` rows at a time — by default 4 on CPU, 8 on a GPU —
       end-of-turn token counted) and stored with
       ``bulk_create(ignore_conflicts=True)``, so a re-run, a resumed run or two
       jobs racing never store a second row or fail on the unique constraint.
    3. A cancel stops the job between steps; what was stored stays.

Result: ``{"model", "prompts", "responses_in_scope", "responses_encoded"
(rows this job stored, over all its runs), "already_encoded" (in scope and
encoded before the job started), "tokens" (summed ``n_tokens`` of the rows
this job stored), "dim"}``.
"""

from __future__ import annotations

import logging

import numpy as np
from django.db.models import Count, Max, Sum

from annotate.models import Project, Response
from curation.ches.params import encode_params_clean
from curation.ches.selectors import encoding_model_name, encoding_model_ref, responses_in_scope, responses_unencoded
from curation.jobs.lifecycle import JobProgress
from curation.models import Job, ResponseEncoding

logger = logging.getLogger(__name__)

# Prompts encoded together per step (one progress step, one commit): their responses are batched across
# prompts by length (curation.llm.encode.encode_many); bounds the prompt caches held at once.
PROMPTS_PER_STEP = 32
# On a GPU a step holds more prompts, so the length-sorted batches fill its larger batches.
PROMPTS_PER_STEP_ACCELERATOR = 512


def prompts_per_step(loaded) -> int:
    return PROMPTS_PER_STEP if str(getattr(loaded, "device", "cpu")).startswith("cpu") else PROMPTS_PER_STEP_ACCELERATOR


def _plan(project: Project, model_name: str, limit: int | None) -> list[int]:
    missing = responses_unencoded(responses_in_scope(project=project), model_name)
    prompts = sorted(set(missing.values_list("prompt_id", flat=True)))
    return prompts[:limit] if limit else prompts


def responses_encode(job: Job, progress: JobProgress) -> dict:
    """The 'encode' job: see the module docstring."""
    from curation.llm import encode
    from curation.llm.runtime import load_model_step

    project = job.project
    params = encode_params_clean(data=job.params)
    model_name = encoding_model_name(project=project)
    loaded = load_model_step(progress, encoding_model_ref(project=project))

    state = dict(progress.checkpoint or {})
    if state.get("model") != model_name or "plan" not in state:
        scope = responses_in_scope(project=project)
        in_scope = scope.count()
        state = {
            "model": model_name,
            "plan": _plan(project, model_name, params.limit),
            "responses_in_scope": in_scope,
            "already_encoded": in_scope - responses_unencoded(scope, model_name).count(),
        }
        progress.save_checkpoint(state)
        progress.log(
            f"model {model_name}: {in_scope} response(s) in pairwise/ranking items, "
            f"{state['already_encoded']} already encoded; {len(state['plan'])} prompt(s) to encode"
        )
    else:
        progress.log(f"resuming: {len(state['plan'])} prompt(s) in the plan, {progress.job.progress_done} done")
    plan: list[int] = state["plan"]
    batch_size = params.batch_size or encode.default_batch_size(loaded)
    scope = responses_in_scope(project=project)
    progress.set_total(len(plan))
    stored_total = ResponseEncoding.objects.filter(job=job, model_name=model_name).count()
    per_step = prompts_per_step(loaded)
    for start in range(0, len(plan), per_step):
        # prompts committed by an earlier run of this job are skipped
        chunk = [
            pid for n, pid in enumerate(plan[start : start + per_step], start + 1) if n > progress.job.progress_done
        ]
        if not chunk:
            continue
        missing = responses_unencoded(scope.filter(prompt_id__in=chunk), model_name).select_related("prompt")
        groups: dict[int, list[Response]] = {}
        for response in missing.order_by("prompt_id", "id"):
            groups.setdefault(response.prompt_id, []).append(response)
        stored = wanted = 0
        step = f"{start + 1}–{start + len(chunk)}"
        if groups:
            progress.message(f"Encoding prompts {step} of {len(plan)}")
            vectors = encode.encode_many(
                loaded,
                [(responses[0].prompt.messages, [r.text for r in responses]) for responses in groups.values()],
                batch_size=batch_size,
                on_batch=lambda d, t, step=step: progress.tick(
                    f"Encoding prompts {step} of {len(plan)}: {d} of {t} prompts and responses run"
                ),
            )
            rows = [
                ResponseEncoding(
                    response_id=r.pk,
                    model_name=model_name,
                    dim=int(v.shape[0]),
                    n_tokens=int(count),
                    vector=np.ascontiguousarray(v, dtype="<f4").tobytes(),
                    job=job,
                )
                for responses, encoded in zip(groups.values(), vectors, strict=True)
                for r, (v, count) in zip(responses, encoded, strict=True)
            ]
            ResponseEncoding.objects.bulk_create(rows, ignore_conflicts=True)
            wanted = len(rows)
            stored = ResponseEncoding.objects.filter(
                response_id__in=[row.response_id for row in rows], model_name=model_name, job=job
            ).count()
            stored_total += stored
        done = progress.job.progress_done + len(chunk)
        progress.advance(len(chunk), message=f"{done} of {len(plan)} prompts, {stored_total} responses encoded")
        if stored < wanted:
            progress.log(f"{wanted - stored} response(s) were encoded meanwhile elsewhere")
    mine = ResponseEncoding.objects.filter(job=job, model_name=model_name)
    totals = mine.aggregate(rows=Count("id"), tokens=Sum("n_tokens"), dim=Max("dim"))
    return {
        "model": model_name,
        "prompts": len(plan),
        "responses_in_scope": state["responses_in_scope"],
        "responses_encoded": totals["rows"],
        "already_encoded": state["already_encoded"],
        "tokens": totals["tokens"] or 0,
        "dim": totals["dim"],
    }
