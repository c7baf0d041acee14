"""Candidate generation: K sampled responses per prompt, then items built from them.

``generate_create`` (``curation.generation.services``) validates the
parameters (``curation.generation.params``) and queues the job; the page,
the command and tests call it. ``candidates_generate`` is the job's runner
(``curation.jobs.registry``).

What a run does
    1. Plan: the project's prompts that have no generation for these
       parameters yet (oldest first, at most ``limit``). The plan is stored
       in the job's checkpoint, so a resumed run finishes the same prompts
       rather than picking new ones.
    2. The plan is cut into chunks of ``prompts_per_batch`` prompts. For each
       chunk the model samples ``per_prompt`` (K) responses per prompt in one
       batched call, seeded by ``seed`` and the chunk's prompt hashes, so the
       same prompts and parameters give the same texts on any run.
    3. One transaction per chunk stores the responses, a ``PromptGeneration``
       record per prompt and the items, and moves the job's checkpoint. A crash
       loses at most the chunk in flight; a resumed run skips every prompt
       whose ``PromptGeneration`` exists (and the chunk's transaction checks
       the job's lease, so a run that lost its job commits nothing).

Responses
    ``source='generated'``, ``model_name`` = the loaded model's name, and
    ``generation_params`` = ``{temperature, top_p, max_new_tokens, seed,
    per_prompt, fingerprint, sample_index, n_tokens, finished}``. The
    fingerprint is the hash of the model name and the sampling parameters;
    it is what "already generated" means. Identical samples of one prompt are
    stored once (``Response`` is unique per prompt and text hash; a sample
    equal to an existing, e.g. imported, response reuses that row). Empty
    samples are dropped.

Items (kinds chosen per run; default: the project's enabled kinds), from the
prompt's distinct responses in generation order r0, r1, …:
    * pairwise: disjoint adjacent pairs (r0, r1), (r2, r3), …; an odd last
      response is left unpaired. ``pair_rule='all'`` builds every pair
      instead (K(K−1)/2).
    * thumb and judgment: one item per response.
    * ranking: one item ranking all of them (at most 20), when there are at
      least 3.
    An item's content hash is ``content_hash([kind, prompt hash, sorted
    response hashes])`` (the importer's rule), so re-running, resuming or
    importing the same responses never creates a second item.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter

from django.db import transaction
from django.db.models import Exists, OuterRef

from annotate.models import KIND_RESPONSES, Item, ItemResponse, Kind, Project, Prompt, Response, Source, content_hash
from curation.generation.params import GenerationParams, generation_params_clean
from curation.jobs.lifecycle import JobProgress, job_progress
from curation.models import Job, PromptGeneration

logger = logging.getLogger(__name__)


def generation_fingerprint(*, model_name: str, params: GenerationParams) -> str:
    """What makes two runs "the same generation": the model and the sampling parameters."""
    return content_hash(
        {
            "model": model_name,
            "per_prompt": params.per_prompt,
            "max_new_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
    )


def _chunk_seed(seed: int, prompt_hashes: list[str]) -> int:
    return int(content_hash([seed, prompt_hashes])[:8], 16)


def item_groups(response_ids: list[int], kind: str, *, pair_rule: str = "adjacent") -> list[tuple[int, ...]]:
    """The response groups (positions in order) of the items of ``kind`` built
    from a prompt's distinct responses in generation order."""
    ids = list(dict.fromkeys(response_ids))
    if kind == Kind.PAIRWISE:
        if pair_rule == "all":
            return list(itertools.combinations(ids, 2))
        return [(ids[i], ids[i + 1]) for i in range(0, len(ids) - 1, 2)]
    if kind in (Kind.THUMB, Kind.JUDGMENT):
        return [(r,) for r in ids]
    if kind == Kind.RANKING:
        low, high = KIND_RESPONSES[Kind.RANKING]
        return [tuple(ids[:high])] if len(ids) >= low else []
    raise ValueError(f"unknown item kind {kind!r}")


def items_build_for_prompt(
    *, prompt: Prompt, response_ids: list[int], kinds, pair_rule: str = "adjacent", metadata: dict | None = None
) -> Counter:
    """Create the items of ``kinds`` for these responses that do not exist yet; counts per kind."""
    responses = Response.objects.in_bulk(list(dict.fromkeys(response_ids)))
    wanted: dict[str, tuple[str, tuple[int, ...]]] = {}
    for kind in kinds:
        for group in item_groups(response_ids, kind, pair_rule=pair_rule):
            digest = content_hash([kind, prompt.content_hash, sorted(responses[r].content_hash for r in group)])
            wanted.setdefault(digest, (kind, group))
    existing = set(
        Item.objects.filter(project_id=prompt.project_id, content_hash__in=list(wanted)).values_list(
            "content_hash", flat=True
        )
    )
    created: Counter = Counter()
    links = []
    for digest, (kind, group) in wanted.items():
        if digest in existing:
            continue
        item = Item.objects.create(
            project_id=prompt.project_id, kind=kind, prompt=prompt, content_hash=digest, metadata=metadata or {}
        )
        links.extend(ItemResponse(item=item, response_id=r, position=i) for i, r in enumerate(group))
        created[kind] += 1
    ItemResponse.objects.bulk_create(links)
    return created


def prompt_outputs_store(
    *, job: Job, prompt: Prompt, outputs, model_name: str, params: GenerationParams, fingerprint: str
) -> tuple[int, int, Counter]:
    """Responses, the generation record and items of one prompt. Returns (created, duplicates, items)."""
    common = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_new_tokens": params.max_new_tokens,
        "seed": params.seed,
        "per_prompt": params.per_prompt,
        "fingerprint": fingerprint,
    }
    samples = [(i, out, content_hash(out.text)) for i, out in enumerate(outputs) if out.text.strip()]
    hashes = list(dict.fromkeys(h for _i, _o, h in samples))
    before = set(Response.objects.filter(prompt=prompt, content_hash__in=hashes).values_list("content_hash", flat=True))
    fresh: dict[str, Response] = {}
    for i, out, digest in samples:
        if digest in before or digest in fresh:
            continue
        fresh[digest] = Response(
            prompt=prompt,
            text=out.text,
            content_hash=digest,
            source=Source.GENERATED,
            model_name=model_name,
            generation_params={**common, "sample_index": i, "n_tokens": out.n_tokens, "finished": out.finished},
            metadata={"job": str(job.uuid)},
        )
    Response.objects.bulk_create(fresh.values(), ignore_conflicts=True)
    by_hash = dict(Response.objects.filter(prompt=prompt, content_hash__in=hashes).values_list("content_hash", "pk"))
    response_ids = [by_hash[h] for _i, _o, h in samples]
    PromptGeneration.objects.create(
        prompt=prompt,
        job=job,
        fingerprint=fingerprint,
        model_name=model_name,
        params={**common, "empty_samples": len(outputs) - len(samples)},
        response_ids=response_ids,
    )
    items = items_build_for_prompt(
        prompt=prompt,
        response_ids=response_ids,
        kinds=params.kinds,
        pair_rule=params.pair_rule,
        metadata={"generation": fingerprint, "job": str(job.uuid)},
    )
    return len(fresh), len(samples) - len(set(response_ids)), items


def _plan(project: Project, fingerprint: str, limit: int | None) -> list[int]:
    done = PromptGeneration.objects.filter(prompt=OuterRef("pk"), fingerprint=fingerprint)
    prompts = Prompt.objects.filter(project=project).exclude(Exists(done)).order_by("id").values_list("pk", flat=True)
    return list(prompts[:limit] if limit else prompts)


def candidates_generate(job: Job, progress: JobProgress) -> dict:
    """The 'generate' job: see the module docstring."""
    from curation.llm.generate import generate
    from curation.llm.runtime import load_model_step

    project = job.project
    params = generation_params_clean(project=project, data=job.params)
    loaded = load_model_step(progress, params.model or project.model_name or None)
    fingerprint = generation_fingerprint(model_name=loaded.name, params=params)

    state = dict(progress.checkpoint or {})
    if state.get("fingerprint") != fingerprint or "plan" not in state:
        state = {
            "fingerprint": fingerprint,
            "plan": _plan(project, fingerprint, params.limit),
            "responses_created": 0,
            "duplicates": 0,
            "items_created": {},
        }
        progress.save_checkpoint(state)
        progress.log(f"model {loaded.name}; {len(state['plan'])} prompt(s) to generate for, K={params.per_prompt}")
    else:
        progress.log(f"resuming: {len(state['plan'])} prompt(s) in the plan")
    if params.temperature == 0 and params.per_prompt > 1:
        progress.log("temperature 0 is greedy: the K samples of a prompt will be identical and stored once")
    plan: list[int] = state["plan"]
    done_ids = set(
        PromptGeneration.objects.filter(prompt_id__in=plan, fingerprint=fingerprint).values_list("prompt_id", flat=True)
    )
    progress.set_total(len(plan))
    progress.set_done(len(done_ids), message=f"{len(done_ids)} of {len(plan)} prompts done")

    for start in range(0, len(plan), params.prompts_per_batch):
        chunk = [pid for pid in plan[start : start + params.prompts_per_batch] if pid not in done_ids]
        if not chunk:
            continue
        prompts = Prompt.objects.in_bulk(chunk)
        chunk = [pid for pid in chunk if pid in prompts]  # a prompt may have been deleted meanwhile
        if not chunk:
            continue
        progress.message(f"Generating for prompts {start + 1}–{start + len(chunk)} of {len(plan)}")
        outputs = generate(
            loaded,
            [prompts[pid].messages for pid in chunk],
            n=params.per_prompt,
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=params.max_new_tokens,
            seed=_chunk_seed(params.seed, [prompts[pid].content_hash for pid in chunk]),
            batch_size=params.batch_size,
            on_batch=lambda _done, _total: progress.tick(),
        )
        with transaction.atomic():
            created = duplicates = 0
            items: Counter = Counter(state["items_created"])
            for pid, outs in zip(chunk, outputs, strict=True):
                c, d, i = prompt_outputs_store(
                    job=job,
                    prompt=prompts[pid],
                    outputs=outs,
                    model_name=loaded.name,
                    params=params,
                    fingerprint=fingerprint,
                )
                created, duplicates = created + c, duplicates + d
                items.update(i)
            state = {
                **state,
                "responses_created": state["responses_created"] + created,
                "duplicates": state["duplicates"] + duplicates,
                "items_created": dict(items),
            }
            # Inside the transaction: a run that lost its lease (JobLost) commits nothing.
            job_progress(job=job, token=progress.token, checkpoint=state)
            job.checkpoint = state
        done_ids.update(chunk)
        progress.advance(
            len(chunk),
            message=f"{len(done_ids)} of {len(plan)} prompts done, {state['responses_created']} responses",
        )
        progress.log(f"prompts {start + 1}–{start + len(chunk)}: {created} new responses, {duplicates} duplicates")

    return {
        "model": loaded.name,
        "fingerprint": fingerprint,
        "prompts": len(plan),
        "responses_created": state["responses_created"],
        "duplicates": state["duplicates"],
        "items_created": state["items_created"],
    }
