"""Hidden-state encodings of responses, and CHES of pairs from them (docs/algorithms.md#ches).

``encode_create`` (``curation.ches.services``) validates the parameters
(``curation.ches.params``) and queues the job for the audit overview's
button and ``manage.py encode``; ``ENCODE_SHARDS`` is how it runs (model
queue, ``curation.jobs.registry.SHARDED``): sharded, so any number of
workers encode one job together (``curation.jobs.shards``). Readers (the audit, the exports) use
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
    1. Plan (once): the ids of the prompts that have at least one such
       response without an encoding for the model (oldest first, at most
       ``limit``), cut into shards of ``DOCKET_ENCODE_SHARD_PROMPTS`` (32) prompts stored
       with the job, so every worker and every resumed run works through the
       same plan.
    2. Each worker taking part claims shards (one at a time on a CPU,
       ``PROMPTS_PER_STEP_ACCELERATOR`` prompts' worth at once on a GPU), and
       encodes their responses still without an encoding together with
       ``curation.llm.encode.encode_many`` (each prompt's KV cache shared by its
       responses, the responses of all the claimed prompts batched by length
       ``batch_size`` rows at a time — by default 4 on CPU, 8 on a GPU —
       end-of-turn token counted). The rows are stored with
       ``bulk_create(ignore_conflicts=True)`` in the transaction that marks the
       shards done, so a shard is stored exactly once even when its worker dies
       and another takes it over, and two jobs racing never store a second row.
       Progress counts prompts.
    3. A cancel stops every worker before its next shard; what was stored stays.

Result: ``{"model", "prompts", "responses_in_scope", "responses_encoded"
(rows this job stored, over all its shards and workers), "already_encoded" (in scope and
encoded before the job started), "tokens" (summed ``n_tokens`` of the rows
this job stored), "dim"}``.
"""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Sum

from annotate.models import Project, Response
from curation.ches.params import encode_params_clean
from curation.ches.selectors import encoding_model_name, encoding_model_ref, responses_in_scope, responses_unencoded
from curation.jobs.lifecycle import JobProgress
from curation.jobs.shards import ShardSpec
from curation.models import Job, ResponseEncoding

logger = logging.getLogger(__name__)


# Prompts per shard (DOCKET_ENCODE_SHARD_PROMPTS, 32): one claim, one progress step, one commit on a CPU.
# Their responses are batched across prompts by length (curation.llm.encode.encode_many); bounds the
# prompt caches held at once.
def shard_prompts() -> int:
    return max(1, int(getattr(settings, "DOCKET_ENCODE_SHARD_PROMPTS", 32)))


# On a GPU a worker claims this many prompts' worth of shards at once, so the length-sorted batches fill
# its larger batches.
PROMPTS_PER_STEP_ACCELERATOR = 512


def _plan(project: Project, model_name: str, limit: int | None) -> list[int]:
    missing = responses_unencoded(responses_in_scope(project=project), model_name)
    prompts = sorted(set(missing.values_list("prompt_id", flat=True)))
    return prompts[:limit] if limit else prompts


def _scope_state(project: Project, model_name: str, limit: int | None) -> dict:
    scope = responses_in_scope(project=project)
    in_scope = scope.count()
    return {
        "model": model_name,
        "plan": _plan(project, model_name, limit),
        "responses_in_scope": in_scope,
        "already_encoded": in_scope - responses_unencoded(scope, model_name).count(),
    }


def encode_plan(job: Job, progress: JobProgress) -> list[tuple[dict, int]]:
    """Plan the job (phase 1 of ``curation.jobs.shards``): the prompts to encode, ``shard_prompts()`` a shard."""
    params = encode_params_clean(data=job.params)
    model_name = encoding_model_name(project=job.project)
    state = _scope_state(job.project, model_name, params.limit)
    plan = state.pop("plan")
    progress.save_checkpoint({**state, "prompts": len(plan)})
    progress.log(
        f"model {model_name}: {state['responses_in_scope']} response(s) in pairwise/ranking items, "
        f"{state['already_encoded']} already encoded; {len(plan)} prompt(s) to encode"
    )
    size = shard_prompts()
    return [
        ({"first": start + 1, "prompts": plan[start : start + size]}, len(plan[start : start + size]))
        for start in range(0, len(plan), size)
    ]


def encode_shards_run(job: Job, shards, progress):
    """Encode the claimed shards' prompts together (phase 2); returns the write that stores the rows."""
    from curation.llm import encode
    from curation.llm.runtime import load_model_step

    project = job.project
    params = encode_params_clean(data=job.params)
    model_name = job.checkpoint["model"]
    loaded = load_model_step(progress, encoding_model_ref(project=project))
    chunk = [pid for shard in shards for pid in shard.payload["prompts"]]
    total = job.progress_total
    first = shards[0].payload["first"]
    step = f"{first}–{first + len(chunk) - 1}"
    missing = responses_unencoded(responses_in_scope(project=project).filter(prompt_id__in=chunk), model_name)
    groups: dict[int, list[Response]] = {}
    for response in missing.select_related("prompt").order_by("prompt_id", "id"):
        groups.setdefault(response.prompt_id, []).append(response)
    if not groups:
        return None
    progress.message(f"Encoding prompts {step} of {total}")
    vectors = encode.encode_many(
        loaded,
        [(responses[0].prompt.messages, [r.text for r in responses]) for responses in groups.values()],
        batch_size=params.batch_size or encode.default_batch_size(loaded),
        on_batch=lambda d, t: progress.tick(
            f"Encoding prompts {step} of {total}: {d} of {t} prompts and responses run"
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

    def write() -> None:
        # ignore_conflicts: a row stored meanwhile by another job is kept as it is
        ResponseEncoding.objects.bulk_create(rows, ignore_conflicts=True)

    return write


def encode_done_message(job: Job, done: int, total: int) -> str:
    stored = ResponseEncoding.objects.filter(job=job).count()
    return f"{done} of {total} prompts, {stored} responses encoded"


def encode_shards_per_claim(job: Job) -> int:
    """On a GPU a worker takes several shards at once, so its length-sorted batches fill."""
    from curation.llm.runtime import default_device

    return 1 if default_device().startswith("cpu") else max(1, PROMPTS_PER_STEP_ACCELERATOR // shard_prompts())


def encode_finish(job: Job, progress: JobProgress) -> dict:
    """The job's result (phase 3), over every shard and every run."""
    state = job.checkpoint
    mine = ResponseEncoding.objects.filter(job=job, model_name=state["model"])
    totals = mine.aggregate(rows=Count("id"), tokens=Sum("n_tokens"), dim=Max("dim"))
    return {
        "model": state["model"],
        "prompts": state["prompts"],
        "responses_in_scope": state["responses_in_scope"],
        "responses_encoded": totals["rows"],
        "already_encoded": state["already_encoded"],
        "tokens": totals["tokens"] or 0,
        "dim": totals["dim"],
    }


ENCODE_SHARDS = ShardSpec(
    plan=encode_plan,
    run=encode_shards_run,
    finish=encode_finish,
    done_message=encode_done_message,
    shards_per_claim=encode_shards_per_claim,
)
