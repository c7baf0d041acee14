"""Hidden-state encodings of responses, and CHES of pairs from them (ALGORITHMS.md §1).

``encode_create`` launches the job, ``responses_encode`` is its runner
(``@job_runner("encode")``, model queue); ``manage.py encode`` creates it from
the command line. Readers (the audit) use ``encodings_for`` and
``pair_ches``.

Which responses
    The responses of the project's **pairwise and ranking items** (excluded
    items and probes included): the ones that take part in a (chosen,
    rejected) pair, which is all CHES is defined for. Responses only in
    thumb or written-judgment items are not encoded. A response is encoded
    once per model, given its own prompt, whatever number of items it is in.

Which model
    Always the project's model: ``resolve_name(project.model_name or None)``
    (the default model when the project names none) — the model as it is
    before preference training, as the paper prescribes (§1.3). That
    resolved reference is the ``model_name`` of every ``ResponseEncoding``
    row and what readers pass back. The HTTP (openai) backend has no hidden
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
from dataclasses import asdict, dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, Max, OuterRef, Sum

from annotate.models import Kind, Project, Response
from curation.jobs.lifecycle import JobProgress, job_create, job_runner
from curation.metrics.ches import ches_batch
from curation.models import Job, JobKind, ResponseEncoding

logger = logging.getLogger(__name__)

PAIR_KINDS = (Kind.PAIRWISE.value, Kind.RANKING.value)
MAX_BATCH_SIZE = 64
# Prompts encoded together per step (one progress step, one commit): their responses are batched across
# prompts by length (curation.llm.encode.encode_many); bounds the prompt caches held at once.
PROMPTS_PER_STEP = 32


@dataclass(frozen=True)
class EncodeParams:
    batch_size: int | None = None  # None: 4 on CPU, 8 on a GPU (curation.llm.encode.default_batch_size)
    limit: int | None = None


def encode_params_clean(*, data: dict | None) -> EncodeParams:
    """Defaults filled in and values checked; ``ValidationError`` names the field."""
    data = dict(data or {})
    errors: dict[str, str] = {}
    unknown = set(data) - set(EncodeParams.__dataclass_fields__)
    if unknown:
        errors["params"] = f"unknown parameter(s): {', '.join(sorted(unknown))}"
    values: dict[str, int | None] = {}
    for name, low, high in (("batch_size", 1, MAX_BATCH_SIZE), ("limit", 1, None)):
        value = data.get(name)
        if value is None or value == "":
            continue
        try:
            number = int(value)
            if isinstance(value, bool) or (isinstance(value, float) and value != number):
                raise ValueError
        except (TypeError, ValueError):
            errors[name] = f"{name} must be a whole number, got {value!r}"
            continue
        if number < low or (high is not None and number > high):
            errors[name] = f"{name} must be between {low} and {high}" if high else f"{name} must be at least {low}"
            continue
        values[name] = number
    if errors:
        raise ValidationError(errors)
    return EncodeParams(**values)


def encoding_model_name(*, project: Project) -> str:
    """The model key of the project's encodings (the resolved project model)."""
    from curation.llm.runtime import resolve_name

    return resolve_name(project.model_name or None)


def encode_create(*, project: Project, user=None, params: dict | None = None) -> Job:
    """Validate ``params`` (``batch_size``, ``limit``) and queue an encode job for ``project``."""
    from django.conf import settings

    from curation.llm.runtime import ModelNotFoundError

    cleaned = encode_params_clean(data=params)
    if getattr(settings, "DOCKET_LLM_BACKEND", "transformers") == "openai":
        raise ValidationError({"model": "hidden-state encoding needs the transformers backend, not the openai one"})
    try:
        encoding_model_name(project=project)
    except ModelNotFoundError as exc:
        raise ValidationError({"model": str(exc)}) from None
    return job_create(project=project, kind=JobKind.ENCODE, params=asdict(cleaned), user=user)


# ------------------------------------------------------------------ selectors


def responses_in_scope(*, project: Project):
    """The project's responses that are in a pairwise or ranking item."""
    return Response.objects.filter(items__project=project, items__kind__in=PAIR_KINDS).distinct()


def _unencoded(queryset, model_name: str):
    done = ResponseEncoding.objects.filter(response=OuterRef("pk"), model_name=model_name)
    return queryset.exclude(Exists(done))


def _plan(project: Project, model_name: str, limit: int | None) -> list[int]:
    missing = _unencoded(responses_in_scope(project=project), model_name)
    prompts = sorted(set(missing.values_list("prompt_id", flat=True)))
    return prompts[:limit] if limit else prompts


def encodings_for(*, response_ids, model_name: str) -> dict[int, tuple[np.ndarray, int]]:
    """``{response_id: (summed hidden state as float64 [d], n_tokens)}`` for the stored encodings.

    Responses without an encoding for ``model_name`` are absent from the dict.
    """
    rows = ResponseEncoding.objects.filter(response_id__in=list(set(response_ids)), model_name=model_name)
    return {
        rid: (np.frombuffer(bytes(vector), dtype="<f4").astype(np.float64), n)
        for rid, vector, n in rows.values_list("response_id", "vector", "n_tokens")
    }


def pair_ches(*, pairs: list[tuple[int, int]], model_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ches [N], ln_ches [N])`` float64 for ``(chosen_id, rejected_id)`` pairs of response ids.

    NaN where either response has no encoding for ``model_name``. CHES is
    asymmetric: the first id is the preferred (chosen) response.
    """
    n = len(pairs)
    out_ches = np.full(n, np.nan)
    out_ln = np.full(n, np.nan)
    if not n:
        return out_ches, out_ln
    enc = encodings_for(response_ids=[r for pair in pairs for r in pair], model_name=model_name)
    rows = [i for i, (c, r) in enumerate(pairs) if c in enc and r in enc]
    if rows:
        s_pos = np.stack([enc[pairs[i][0]][0] for i in rows])
        s_neg = np.stack([enc[pairs[i][1]][0] for i in rows])
        n_pos = np.array([enc[pairs[i][0]][1] for i in rows])
        n_neg = np.array([enc[pairs[i][1]][1] for i in rows])
        values, normalised = ches_batch(s_pos, s_neg, n_pos, n_neg)
        out_ches[rows] = values
        out_ln[rows] = normalised
    return out_ches, out_ln


# ------------------------------------------------------------------ runner


@job_runner("encode")
def responses_encode(job: Job, progress: JobProgress) -> dict:
    """The 'encode' job: see the module docstring."""
    from curation.llm import encode
    from curation.llm.runtime import get_model

    project = job.project
    params = encode_params_clean(data=job.params)
    model_name = encoding_model_name(project=project)
    progress.message("Loading the model")
    loaded = get_model(model_name)

    state = dict(progress.checkpoint or {})
    if state.get("model") != model_name or "plan" not in state:
        scope = responses_in_scope(project=project)
        in_scope = scope.count()
        state = {
            "model": model_name,
            "plan": _plan(project, model_name, params.limit),
            "responses_in_scope": in_scope,
            "already_encoded": in_scope - _unencoded(scope, model_name).count(),
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
    for start in range(0, len(plan), PROMPTS_PER_STEP):
        # prompts committed by an earlier run of this job are skipped
        chunk = [
            pid
            for n, pid in enumerate(plan[start : start + PROMPTS_PER_STEP], start + 1)
            if n > progress.job.progress_done
        ]
        if not chunk:
            continue
        missing = _unencoded(scope.filter(prompt_id__in=chunk), model_name).select_related("prompt")
        groups: dict[int, list[Response]] = {}
        for response in missing.order_by("prompt_id", "id"):
            groups.setdefault(response.prompt_id, []).append(response)
        stored = wanted = 0
        if groups:
            vectors = encode.encode_many(
                loaded,
                [(responses[0].prompt.messages, [r.text for r in responses]) for responses in groups.values()],
                batch_size=batch_size,
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
