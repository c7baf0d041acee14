"""Candidate generation: K sampled responses per prompt, then items built from them.

``generate_create`` (``curation.generation.services``) validates the
parameters (``curation.generation.params``) and queues the job; the page,
the command and tests call it. ``GENERATE_SHARDS`` is how the job runs
(``curation.jobs.registry.SHARDED``): sharded, so any number of model
workers generate for one job together (``curation.jobs.shards``).

What a run does
    1. Plan (once): the project's prompts that have no generation for these
       parameters yet (oldest first, at most ``limit``), cut into shards of
       ``prompts_per_batch`` prompts stored with the job, so every worker and
       every resumed run finishes the same prompts rather than picking new ones.
    2. Each worker taking part claims shards; for each the model samples
       ``per_prompt`` (K) responses per prompt in one batched call, seeded by
       ``seed`` and the shard's prompt hashes, so the same prompts and
       parameters give the same texts on any run and any worker.
    3. The transaction that marks a shard done stores its responses, a
       ``PromptGeneration`` record per prompt and the items, and keeps the
       shard's counts (added up into the result at the end). A crash loses at
       most the shards in flight, which another worker takes over; prompts
       whose ``PromptGeneration`` exists are skipped.

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

from django.db.models import Exists, OuterRef

from annotate.models import KIND_RESPONSES, Item, ItemResponse, Kind, Project, Prompt, Response, Source, content_hash
from curation.generation.params import GenerationParams, generation_params_clean
from curation.jobs.lifecycle import JobProgress
from curation.jobs.shards import ShardSpec
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


def generate_plan(job: Job, progress: JobProgress) -> list[tuple[dict, int]]:
    """Plan the 'generate' job (phase 1 of ``curation.jobs.shards``): the prompts
    without a generation for these parameters, ``prompts_per_batch`` a shard.
    The planner loads the model (the fingerprint names the loaded model)."""
    from curation.llm.runtime import load_model_step

    project = job.project
    params = generation_params_clean(project=project, data=job.params)
    loaded = load_model_step(progress, params.model or project.model_name or None)
    fingerprint = generation_fingerprint(model_name=loaded.name, params=params)
    plan = _plan(project, fingerprint, params.limit)
    progress.save_checkpoint({"fingerprint": fingerprint, "model": loaded.name, "prompts": len(plan)})
    progress.log(f"model {loaded.name}; {len(plan)} prompt(s) to generate for, K={params.per_prompt}")
    if params.temperature == 0 and params.per_prompt > 1:
        progress.log("temperature 0 is greedy: the K samples of a prompt will be identical and stored once")
    size = params.prompts_per_batch
    return [
        ({"first": start + 1, "prompts": plan[start : start + size]}, len(plan[start : start + size]))
        for start in range(0, len(plan), size)
    ]


def generate_shards_run(job: Job, shards, progress):
    """Sample the claimed shards' prompts (phase 2); returns the write that stores
    responses, generation records and items (with the shards' done mark)."""
    from curation.llm.generate import generate
    from curation.llm.runtime import load_model_step

    project = job.project
    params = generation_params_clean(project=project, data=job.params)
    loaded = load_model_step(progress, params.model or project.model_name or None)
    fingerprint, total = job.checkpoint["fingerprint"], job.progress_total
    work = []
    for shard in shards:
        chunk = shard.payload["prompts"]
        done = set(
            PromptGeneration.objects.filter(prompt_id__in=chunk, fingerprint=fingerprint).values_list(
                "prompt_id", flat=True
            )
        )
        prompts = Prompt.objects.in_bulk([pid for pid in chunk if pid not in done])
        chunk = [pid for pid in chunk if pid in prompts]  # done meanwhile, or deleted
        if not chunk:
            continue
        first = shard.payload["first"]
        progress.message(f"Generating for prompts {first}–{first + len(shard.payload['prompts']) - 1} of {total}")
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
        work.append((shard.index, chunk, prompts, outputs))

    def write() -> dict[int, dict]:
        reported = {}
        for index, chunk, prompts, outputs in work:
            created = duplicates = 0
            items: Counter = Counter()
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
            reported[index] = {"responses_created": created, "duplicates": duplicates, "items_created": dict(items)}
        return reported

    return write


def generate_done_message(job: Job, done: int, total: int) -> str:
    created = sum(r.get("responses_created", 0) for r in job.shards.values_list("result", flat=True))
    return f"{done} of {total} prompts done, {created} responses"


def generate_finish(job: Job, progress: JobProgress) -> dict:
    """The job's result (phase 3): the shards' counts added up."""
    created = duplicates = 0
    items: Counter = Counter()
    for result in job.shards.values_list("result", flat=True):
        created += result.get("responses_created", 0)
        duplicates += result.get("duplicates", 0)
        items.update(result.get("items_created", {}))
    return {
        "model": job.checkpoint["model"],
        "fingerprint": job.checkpoint["fingerprint"],
        "prompts": job.checkpoint["prompts"],
        "responses_created": created,
        "duplicates": duplicates,
        "items_created": dict(items),
    }


GENERATE_SHARDS = ShardSpec(
    plan=generate_plan, run=generate_shards_run, finish=generate_finish, done_message=generate_done_message
)
