"""Magpie-style instruction synthesis (docs/algorithms.md#magpie): the 'synthesize' job.

``synthesize_create`` (``curation.synthesis.services``) validates the
parameters (``curation.synthesis.params``) and queues the job for the page,
the command and tests; ``SYNTHESIZE_SHARDS`` is how it runs
(``curation.jobs.registry.SHARDED``): sharded, so any number of model workers
sample for one job together (``curation.jobs.shards``), and the stored result
is the same whatever the number of workers.

What a run does
    1. Plan (once): one sampling shard per ``batch_size`` samples, with its
       seed (the job's seed + the shard's number: the seeds the one-worker
       loop used per batch), and the newest project prompt the duplicates
       filters compare with (read then, so a replay decides the same).
    2. Each sampling shard (any worker) builds the pre-query template from the
       model's own chat template (``curation.synthesis.template``: the text up
       to where a user's message starts, with the chosen system prompt's turn
       when one is given, otherwise the template's default system turn, if
       any) and samples its indices, all continuing the shared prefix,
       stopping at the end of the user turn (or ``max_new_tokens``). Optional
       weighted system prompts: each sample draws one (seeded by the job's
       seed and its index); samples of the same system prompt are generated
       together. Then each sample's own model work, for the samples that pass
       the per-sample filters (``filters.sample_reason``): its embedding
       (centred mean-pooled hidden states of the same model,
       ``curation.synthesis.embed``) and its quality tags (input quality,
       difficulty, category from next-token probabilities,
       ``curation.synthesis.tags``), unless ``tags`` is off. All of it is kept
       as the shard's result (vectors as float32 bytes), nothing else written.
    3. Between the rounds (``synthesize_more``, once, the worker that finished
       the last sampling shard): the filters (``curation.synthesis.filters``)
       on every batch in sample order: empty, too short, too long, truncated
       (no end of turn), ending in ':', junk characters, language, exact
       duplicates (normalised hash, against the project's prompts and
       everything accepted before), near duplicates (squared distance of unit
       vectors below ``near_duplicate_distance``, against earlier samples and
       the project's latest ``EXISTING_EMBEDDED`` prompts; 0 turns it off)
       and, with ``min_input_quality``, the input-quality tag. One
       transaction per batch: accepted instructions become ``Prompt`` rows
       (``source='synthesized'``, ``tags`` = the three tags,
       ``metadata["synthesis"]`` = job, model, parameters, probabilities,
       distance); every sample, accepted or not, becomes a
       ``SynthesizedInstruction`` with its reason; the checkpoint records the
       next batch to store. A worker taking this step over replays the
       filters of the stored batches (same inputs) and stores the rest.
    4. With ``responses`` = K > 0, a second round of shards (a few accepted
       prompts each, any worker): responses seeded by the seed and the
       prompts' content hashes, stored with the shard's done mark.

The responses, for the accepted prompts:
    * ``response_mode='items'``: K responses each and items of ``kinds`` for
      people, exactly as candidate generation stores them
      (``curation.generation.runner``: Responses, PromptGeneration, items).
    * ``response_mode='dpo'``: K responses each (no items), scored by the
      model as judge (``curation.llm.judge.win_matrix``: every pair in both
      orders; ``ranking_from_pairwise``: Copeland wins, ties broken by mean
      win probability). Magpie-DPO pair: chosen = best, rejected = worst;
      discarded when fewer than two distinct responses or when best and worst
      share a rank (a tie). A kept pair is stored as a pairwise ``Item``
      (position 0 = chosen, 1 = rejected) with an ``Annotation`` by the
      annotator ``magpie-dpo: <model> [<prompt hash>]`` (type model):
      ``choice='A'``, ``consistent=True``, scores and matrix under
      ``probabilities``, not counted towards the item's human overlap. Exports
      see it like any judge's pairwise annotation.
"""

from __future__ import annotations

import base64
import json
import logging
import random
from collections import Counter

import numpy as np
from django.db import transaction

from annotate.models import Annotation, Annotator, Item, Kind, Project, Prompt, Source, content_hash
from curation.jobs.lifecycle import JobProgress, job_progress
from curation.jobs.shards import ShardSpec
from curation.models import Job, JobShard, SynthesizedInstruction
from curation.synthesis.filters import REASONS, Candidate, apply_filters, normalised_hash
from curation.synthesis.params import SynthesisParams, synthesis_params_clean

logger = logging.getLogger(__name__)

EXISTING_EMBEDDED = 2000
SAMPLE, RESPOND = "sample", "respond"  # the two rounds of shards
DPO_ANNOTATOR_PREFIX = "magpie-dpo"


# ------------------------------------------------------------ sampling


def torch_inference_mode():
    """``torch.inference_mode()`` as a decorator, torch imported only when called."""

    def wrap(fn):
        import functools

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            import torch

            with torch.inference_mode():
                return fn(*args, **kwargs)

        return inner

    return wrap


def system_prompt_for(params: SynthesisParams, index: int) -> str:
    """The system prompt of sample ``index`` (weighted draw seeded by the job's seed and the index)."""
    if not params.system_prompts:
        return ""
    texts = [t for t, _w in params.system_prompts]
    weights = [w for _t, w in params.system_prompts]
    return random.Random(f"{params.seed}:{index}").choices(texts, weights=weights, k=1)[0]


def _pre_query(loaded, system_prompt: str):
    from curation.synthesis.template import pre_query_for_tokenizer

    cache = loaded.extra.setdefault("pre_query", {})
    if system_prompt not in cache:
        pq = pre_query_for_tokenizer(loaded.tokenizer, system_prompt=system_prompt or None)
        vocab = loaded.tokenizer.get_vocab()
        stop_ids = [int(vocab[s]) for s in pq.stop if s in vocab]
        ids = loaded.tokenizer(pq.prefix, add_special_tokens=False)["input_ids"]
        cache[system_prompt] = (ids, stop_ids)
    return cache[system_prompt]


@torch_inference_mode()
def _prefix_cache(loaded, ids: list[int]):
    """Key/value cache of the pre-query prefix minus its last token, once per model and prefix."""
    import torch

    cache = loaded.extra.setdefault("pre_query_kv", {})
    key = tuple(ids)
    if key not in cache:
        out = loaded.model(input_ids=torch.tensor([ids[:-1]], device=loaded.device), use_cache=True)
        cache[key] = out.past_key_values
    return cache[key]


@torch_inference_mode()
def sample_shared_prefix(
    loaded,
    ids: list[int],
    *,
    n: int,
    temperature,
    top_p,
    max_new_tokens,
    seed,
    batch_size,
    stop_token_ids,
    on_batch=None,
):
    """``generate_raw`` for one prefix, with the prefix computed once: every batch starts
    from a copy of its key/value cache (expanded to the batch) instead of running the
    prefix again for each sequence. Same sampling, stop tokens and per-batch seeds."""
    import copy

    import torch

    from curation.llm.generate import outputs_from, sampling_kwargs, seeded
    from curation.llm.model import LoadedModel

    if len(ids) < 2:
        from curation.llm.generate import generate_raw

        return generate_raw(
            loaded, ids, n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
            batch_size=batch_size, stop_token_ids=stop_token_ids, on_batch=on_batch,
        )  # fmt: skip
    stops = list(loaded.eos_token_ids) + [t for t in stop_token_ids if t not in loaded.eos_token_ids]
    view = LoadedModel(**{**loaded.__dict__, "eos_token_ids": stops})
    base = _prefix_cache(loaded, ids)
    outputs = []
    for b, start in enumerate(range(0, n, batch_size)):
        count = min(batch_size, n - start)
        kwargs = sampling_kwargs(view, temperature, top_p, max_new_tokens, 1)
        past = copy.deepcopy(base)
        past.batch_repeat_interleave(count)
        input_ids = torch.tensor([ids] * count, device=loaded.device)
        with seeded(seed + b):
            out = loaded.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), past_key_values=past, **kwargs
            )
        outputs.extend(outputs_from(view, out[:, len(ids) :].cpu()))
        if on_batch is not None and on_batch(len(outputs), n) is False:
            break
    return outputs


def sample_instructions(
    loaded, params: SynthesisParams, indices: list[int], *, seed: int, batch_size: int | None = None, on_batch=None
) -> list[Candidate]:
    """One candidate per sample index (in ``indices`` order); samples sharing a
    system prompt are generated together, ``batch_size`` sequences at a time,
    continuing one key/value cache of their shared pre-query prefix."""
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(system_prompt_for(params, i), []).append(i)
    out: dict[int, Candidate] = {}
    for g, (system_prompt, members) in enumerate(groups.items()):
        ids, stop_ids = _pre_query(loaded, system_prompt)
        outputs = sample_shared_prefix(
            loaded,
            ids,
            n=len(members),
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=params.max_new_tokens,
            seed=seed + 7919 * g,
            batch_size=batch_size or params.batch_size,
            stop_token_ids=stop_ids,
            on_batch=on_batch,
        )
        for i, o in zip(members, outputs):
            out[i] = Candidate(
                o.text,
                finished=o.finished,
                meta={"index": i, "n_tokens": o.n_tokens, "system_prompt": system_prompt},
            )
    return [out[i] for i in indices]


class Screen:
    """The filters, embeddings and tags of one run, carrying what earlier
    batches accepted (hashes and vectors) so later batches are checked
    against them as well as against the project's existing prompts."""

    def __init__(self, loaded, params: SynthesisParams, *, existing_texts: list[str], embed_batch: int = 32):
        self.loaded, self.params, self.embed_batch = loaded, params, embed_batch
        self.seen = {normalised_hash(t) for t in existing_texts}
        self.reference = None
        self._vectors: dict[int, np.ndarray] = {}
        self._tags: dict[str, dict] = {}
        if params.near_duplicate_distance > 0 and existing_texts:
            self.reference = self._embed(existing_texts[:EXISTING_EMBEDDED])

    def _embed(self, texts: list[str]) -> np.ndarray:
        from curation.synthesis.embed import embed_texts

        return embed_texts(self.loaded, texts, batch_size=self.embed_batch)

    def _tag(self, texts: list[str]) -> list[dict]:
        from curation.synthesis.tags import tags_for

        missing = [t for t in dict.fromkeys(texts) if t not in self._tags]
        if missing:
            for text, tags in zip(missing, tags_for(self.loaded, missing, batch_size=self.embed_batch)):
                self._tags[text] = tags
        return [self._tags[t] for t in texts]

    def run(self, candidates: list[Candidate], *, vectors: dict | None = None, tags: dict | None = None):
        """Filter one batch after the earlier ones. ``vectors`` and ``tags`` (text ->
        embedding / tags, computed by the shard that sampled the batch) replace the
        model calls for the texts they hold."""
        params = self.params
        batch_vectors: list[np.ndarray] = []
        if tags:
            self._tags.update(tags)

        def embed(texts):
            found = np.vstack([vectors[t] for t in texts]) if vectors is not None else self._embed(texts)
            batch_vectors.append(found)
            return found

        report = apply_filters(
            candidates,
            config=params.filter_config(),
            existing_hashes=self.seen,
            embed=embed if params.near_duplicate_distance > 0 else None,
            existing_vectors=self.reference,
            quality=(lambda texts: [t["input_quality"] for t in self._tag(texts)]) if params.tags else None,
        )
        self.seen.update(c.meta["normalised_hash"] for c in report.accepted)
        if batch_vectors:
            accepted = {id(c) for c in report.accepted}
            embedded = [c for c in candidates if "min_neighbour_distance" in c.meta]
            keep = [row for row, c in enumerate(embedded) if id(c) in accepted]
            new = batch_vectors[0][keep]
            self.reference = new if self.reference is None else np.vstack([self.reference, new])
        if params.tags and report.accepted:
            for c, tags in zip(report.accepted, self._tag([c.text for c in report.accepted])):
                c.meta["tags"] = tags
        self._tags.clear()
        return report


# ------------------------------------------------------------ storing


def _prompt_messages(text: str, system_prompt: str) -> list[dict]:
    messages = [{"role": "user", "content": text}]
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def _short_tags(tags: dict) -> dict:
    return {k: tags[k] for k in ("input_quality", "difficulty", "category") if k in tags}


def synthesized_store(*, job: Job, report, model_name: str, params: SynthesisParams) -> list[int]:
    """Prompts for the accepted, a ``SynthesizedInstruction`` for every sample. Returns the new prompt ids."""
    project_id = job.project_id
    rows, prompt_ids = [], []
    for c in report.accepted:
        messages = _prompt_messages(c.text, c.meta["system_prompt"])
        tags = c.meta.get("tags", {})
        prompt, created = Prompt.objects.get_or_create(
            project_id=project_id,
            content_hash=content_hash(messages),
            defaults={
                "messages": messages,
                "source": Source.SYNTHESIZED,
                "tags": _short_tags(tags),
                "metadata": {
                    "synthesis": {
                        "job": str(job.uuid),
                        "index": c.meta["index"],
                        "model": model_name,
                        "temperature": params.temperature,
                        "top_p": params.top_p,
                        "max_new_tokens": params.max_new_tokens,
                        "seed": params.seed,
                        "n_tokens": c.meta["n_tokens"],
                        "min_neighbour_distance": c.meta.get("min_neighbour_distance"),
                        "tag_probabilities": {k: v for k, v in tags.items() if k.endswith("_p")},
                    }
                },
            },
        )
        if created:
            prompt_ids.append(prompt.pk)
        rows.append(_row(job, c, accepted=True, reason="", prompt=prompt))
    for c, reason in report.rejected:
        rows.append(_row(job, c, accepted=False, reason=reason, prompt=None))
    SynthesizedInstruction.objects.bulk_create(rows, ignore_conflicts=True)
    return prompt_ids


def _row(job, c: Candidate, *, accepted: bool, reason: str, prompt) -> SynthesizedInstruction:
    tags = c.meta.get("tags") or ({"input_quality": c.meta["input_quality"]} if "input_quality" in c.meta else {})
    return SynthesizedInstruction(
        job=job,
        index=c.meta["index"],
        text=c.text,
        accepted=accepted,
        reason=reason,
        tags=tags,
        min_distance=c.meta.get("min_neighbour_distance"),
        n_tokens=c.meta.get("n_tokens", 0),
        finished=c.finished,
        system_prompt=c.meta.get("system_prompt", ""),
        prompt=prompt,
    )


# ------------------------------------------------------------ responses


def dpo_annotator(*, model_name: str) -> Annotator:
    """The annotator of Magpie-DPO pairs for this model and judge prompt."""
    from curation.llm.judge import PAIRWISE_SYSTEM

    method = "win_matrix (every pair, both orders) -> ranking_from_pairwise; chosen = best, rejected = worst"
    short = content_hash([PAIRWISE_SYSTEM, method])[:8]
    annotator, _ = Annotator.objects.get_or_create(
        type=Annotator.Type.MODEL,
        name=f"{DPO_ANNOTATOR_PREFIX}: {model_name} [{short}]"[-200:],
        model_name=model_name,
        defaults={"judge_prompt": PAIRWISE_SYSTEM, "params": {"method": method, "prompt_hash": short}},
    )
    return annotator


def dpo_pair(ranking: dict) -> tuple[int, int] | None:
    """(best, worst) positions from ``ranking_from_pairwise``'s result, or None for a tie."""
    order, ranks = ranking["order"], ranking["ranks"]
    if len(order) < 2:
        return None
    best, worst = order[0], order[-1]
    if ranks[best] == ranks[worst]:
        return None
    return best, worst


def _response_params(params: SynthesisParams):
    from curation.generation.runner import GenerationParams

    return GenerationParams(
        per_prompt=params.responses,
        max_new_tokens=params.response_max_new_tokens,
        temperature=params.response_temperature,
        top_p=params.response_top_p,
        seed=params.seed,
        kinds=params.kinds if params.response_mode == "items" else (),
        batch_size=params.batch_size,
    )


def responses_compute(progress, loaded, params: SynthesisParams, prompt_ids: list[int]):
    """K responses for each prompt (and the judge's win matrix and ranking in DPO
    mode): the model's work for one responses shard, nothing written. Seeded by
    the seed and the prompts' content hashes, so any worker samples the same."""
    from curation.generation.runner import _chunk_seed
    from curation.llm.generate import generate

    gen = _response_params(params)
    prompts = Prompt.objects.in_bulk(prompt_ids)
    chunk_ids = [pid for pid in prompt_ids if pid in prompts]
    if not chunk_ids:
        return chunk_ids, prompts, [], {}
    outputs = generate(
        loaded,
        [prompts[pid].messages for pid in chunk_ids],
        n=gen.per_prompt,
        temperature=gen.temperature,
        top_p=gen.top_p,
        max_new_tokens=gen.max_new_tokens,
        seed=_chunk_seed(params.seed, [prompts[pid].content_hash for pid in chunk_ids]),
        batch_size=gen.batch_size,
        on_batch=lambda _d, _t: progress.tick(),
    )
    judged = {}
    if params.response_mode == "dpo":
        from curation.llm.judge import ranking_from_pairwise, win_matrix

        for pid, outs in zip(chunk_ids, outputs):
            texts = list(dict.fromkeys(o.text for o in outs if o.text.strip()))
            if len(texts) >= 2:
                matrix = win_matrix(loaded, prompts[pid].messages, texts)
                judged[pid] = (texts, matrix, ranking_from_pairwise(matrix))
            progress.tick()
    return chunk_ids, prompts, outputs, judged


def responses_store(*, job: Job, model_name: str, params: SynthesisParams, computed) -> Counter:
    """Store one responses shard (``responses_compute``): responses, generation
    records and items as candidate generation stores them, and the Magpie-DPO
    pairs with their annotations. Returns the counts."""
    from curation.generation.runner import generation_fingerprint, items_build_for_prompt, prompt_outputs_store

    chunk_ids, prompts, outputs, judged = computed
    gen = _response_params(params)
    fingerprint = generation_fingerprint(model_name=model_name, params=gen)
    annotator = dpo_annotator(model_name=model_name) if params.response_mode == "dpo" else None
    counts: Counter = Counter()
    for pid, outs in zip(chunk_ids, outputs):
        created, _dups, items = prompt_outputs_store(
            job=job, prompt=prompts[pid], outputs=outs, model_name=model_name, params=gen, fingerprint=fingerprint
        )
        counts["responses_created"] += created
        for kind, k in items.items():
            counts[f"items_{kind}"] += k
        if annotator is None:
            continue
        if pid not in judged:
            counts["dpo_discarded_identical"] += 1
            continue
        texts, matrix, ranking = judged[pid]
        pair = dpo_pair(ranking)
        if pair is None:
            counts["dpo_discarded_tie"] += 1
            continue
        by_hash = dict(prompts[pid].responses.values_list("content_hash", "pk"))
        chosen, rejected = (by_hash[content_hash(texts[i])] for i in pair)
        items_build_for_prompt(
            prompt=prompts[pid],
            response_ids=[chosen, rejected],
            kinds=[Kind.PAIRWISE],
            metadata={"magpie_dpo": True, "job": str(job.uuid)},
        )
        counts["dpo_pairs"] += _dpo_annotate(annotator, prompts[pid], chosen, rejected, matrix, ranking, pair)
    return counts


def _dpo_annotate(annotator, prompt, chosen: int, rejected: int, matrix, ranking, pair) -> int:
    from annotate.services.annotations import AnnotationInput, annotation_record

    digest = content_hash(
        [
            Kind.PAIRWISE,
            prompt.content_hash,
            sorted(prompt.responses.filter(pk__in=[chosen, rejected]).values_list("content_hash", flat=True)),
        ]
    )
    item = Item.objects.filter(project_id=prompt.project_id, content_hash=digest).first()
    if item is None or Annotation.objects.filter(item=item, annotator=annotator).exists():
        return 0
    responses = item.ordered_responses()
    choice = "A" if responses[0].pk == chosen else "B"
    data = AnnotationInput(
        choice=choice,
        display_order=[str(r.uuid) for r in responses],
        probabilities={
            "method": "magpie-dpo",
            "scores": ranking["mean_win"],
            "copeland": ranking["scores"],
            "ranks": ranking["ranks"],
            "matrix": np.round(matrix, 4).tolist(),
            "chosen_index": pair[0],
            "rejected_index": pair[1],
        },
        consistent=True,
        metadata={"judge": "magpie-dpo best vs worst"},
    )
    return 1 if annotation_record(item=item, annotator=annotator, data=data).created else 0


# ------------------------------------------------------------ the job


def _existing_texts(project: Project, *, through: int) -> list[str]:
    """The last user message of the project's prompts with id <= ``through``, newest first."""
    prompts = Prompt.objects.filter(project=project, pk__lte=through).order_by("-id").values_list("messages", flat=True)
    texts = []
    for messages in prompts.iterator(chunk_size=2000):
        users = [m.get("content", "") for m in messages or [] if m.get("role") == "user"]
        if users:
            texts.append(users[-1])
    return texts


def _model(progress, job: Job, params: SynthesisParams):
    from curation.llm.runtime import load_model_step

    loaded = load_model_step(progress, params.model or job.project.model_name or None)
    loaded.require_local("Magpie synthesis (raw-prefix sampling)")
    return loaded


def synthesize_plan(job: Job, progress: JobProgress) -> list[tuple[dict, int]]:
    """Plan the 'synthesize' job (phase 1 of ``curation.jobs.shards``): one
    sampling shard per ``batch_size`` samples, each with its own seed (the job's
    seed + the shard's number, what the one-worker loop used per batch), and the
    newest prompt the de-duplication compares with (later ones are not read, so a
    replay decides the same)."""
    params = synthesis_params_clean(project=job.project, data=job.params)
    loaded = _model(progress, job, params)
    latest = Prompt.objects.filter(project=job.project).order_by("-id").values_list("pk", flat=True).first() or 0
    progress.save_checkpoint(
        {"model": loaded.name, "existing_through": latest, "stored_next": 0, "counts": dict.fromkeys(REASONS, 0)}
        | {"accepted": 0, "prompt_ids": []}
    )
    progress.log(
        f"model {loaded.name}; {params.n} sample(s), batch {params.batch_size}, T={params.temperature}, "
        f"top_p={params.top_p}, max_new_tokens={params.max_new_tokens}"
    )
    size = params.batch_size
    return [
        ({"phase": SAMPLE, "start": start, "stop": min(start + size, params.n), "seed": params.seed + b},
         min(start + size, params.n) - start)
        for b, start in enumerate(range(0, params.n, size))
    ]  # fmt: skip


def _vectors_encode(vectors: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).decode("ascii")


def _vectors_decode(text: str, rows: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32).reshape(rows, -1)


def _sample_shard(progress, loaded, params: SynthesisParams, payload: dict) -> dict:
    """Sample one shard's instructions and do each sample's own model work: the
    embedding and tags of every sample that passes the per-sample filters
    (``filters.sample_reason``). What compares samples with each other and with
    the project (duplicates, near duplicates) waits for ``synthesize_more``."""
    from curation.synthesis.filters import sample_reason

    start, stop = payload["start"], payload["stop"]
    progress.message(f"Sampling instructions {start + 1}–{stop} of {params.n}")
    indices = list(range(start, stop))
    candidates = sample_instructions(
        loaded, params, indices, seed=payload["seed"], on_batch=lambda _d, _t: progress.tick()
    )
    config = params.filter_config()
    texts = list(
        dict.fromkeys(
            c.text.strip()
            for c in candidates
            if sample_reason(c.text.strip(), finished=c.finished, config=config) is None
        )
    )
    out = {
        "samples": [
            {"text": c.text, "finished": c.finished, **{k: c.meta[k] for k in ("index", "n_tokens", "system_prompt")}}
            for c in candidates
        ],
        "texts": texts,
    }
    if texts and params.near_duplicate_distance > 0:
        from curation.synthesis.embed import embed_texts

        progress.message(f"Embedding instructions {start + 1}–{stop}")
        out["vectors"] = _vectors_encode(embed_texts(loaded, texts, batch_size=params.batch_size))
    if texts and params.tags:
        from curation.synthesis.tags import tags_for

        progress.message(f"Tagging instructions {start + 1}–{stop}")
        out["tags"] = json.loads(json.dumps(tags_for(loaded, texts, batch_size=params.batch_size), default=float))
    return out


def _shard_batch(result: dict) -> tuple[list[Candidate], dict | None, dict | None]:
    """A sampling shard's candidates, and its texts' vectors and tags, from its stored result."""
    candidates = [
        Candidate(s["text"], finished=s["finished"], meta={k: s[k] for k in ("index", "n_tokens", "system_prompt")})
        for s in result["samples"]
    ]
    texts = result["texts"]
    vectors = None
    if "vectors" in result:
        vectors = dict(zip(texts, _vectors_decode(result["vectors"], len(texts))))
    tags = dict(zip(texts, result["tags"])) if "tags" in result else None
    return candidates, vectors, tags


def synthesize_shards_run(job: Job, shards, progress):
    """Phase 2: a sampling shard samples and embeds/tags (kept as the shard's
    result); a responses shard samples responses (and judges them) and returns
    the write that stores them."""
    params = synthesis_params_clean(project=job.project, data=job.params)
    loaded = _model(progress, job, params)
    results: dict[int, dict] = {}
    computed = []
    for shard in shards:
        payload = shard.payload
        if payload["phase"] == SAMPLE:
            results[shard.index] = _sample_shard(progress, loaded, params, payload)
        else:
            first, count = payload["first"], len(payload["prompts"])
            progress.message(f"Responses for instructions {first}–{first + count - 1}")
            computed.append((shard.index, responses_compute(progress, loaded, params, payload["prompts"])))

    def write() -> dict[int, dict]:
        for index, work in computed:
            counts = responses_store(job=job, model_name=loaded.name, params=params, computed=work)
            results[index] = {"responses": dict(counts)}
        return results

    return write


def synthesize_more(job: Job, progress: JobProgress) -> list[tuple[dict, int]]:
    """Between the rounds (the finisher, holding the job's lease): filter the
    sampling shards' batches in sample order, each against the project's prompts
    and everything accepted before it (exact and near duplicates, the quality
    floor), and store them, one transaction per batch with the checkpoint; then
    plan the responses shards when ``responses`` > 0. A finisher taking over
    replays the filters of the batches already stored (same inputs, same
    decisions) and stores the rest."""
    if job.shards.filter(payload__phase=RESPOND).exists():
        return []  # the responses round is planned (and done): finish
    params = synthesis_params_clean(project=job.project, data=job.params)
    loaded = _model(progress, job, params)
    state = dict(job.checkpoint)
    progress.message("Embedding the project's prompts")
    existing = _existing_texts(job.project, through=state["existing_through"])
    screen = Screen(loaded, params, existing_texts=existing, embed_batch=params.batch_size)
    sampled = job.shards.filter(payload__phase=SAMPLE).order_by("index").values_list("pk", flat=True)
    for pk in list(sampled):
        shard = JobShard.objects.get(pk=pk)  # one shard's result (its vectors and tags) in memory at a time
        candidates, vectors, tags = _shard_batch(shard.result)
        start, stop = shard.payload["start"], shard.payload["stop"]
        progress.message(f"Filtering instructions {start + 1}–{stop}")
        report = screen.run(candidates, vectors=vectors, tags=tags)
        if shard.index < state["stored_next"]:
            continue  # stored by a finisher that died: replayed for what later batches compare with
        with transaction.atomic():
            new_ids = synthesized_store(job=job, report=report, model_name=loaded.name, params=params)
            counts = Counter(state["counts"])
            counts.update({k: v for k, v in report.counts.items() if v})
            state = {
                **state,
                "stored_next": shard.index + 1,
                "counts": dict(counts),
                "accepted": state["accepted"] + len(report.accepted),
                "prompt_ids": state["prompt_ids"] + new_ids,
            }
            job_progress(job=job, token=progress.token, checkpoint=state)
            job.checkpoint = state
        rejected = sum(report.counts.values())
        progress.log(f"samples {start + 1}–{stop}: {len(report.accepted)} accepted, {rejected} rejected")
        progress.check_cancelled()
    progress.message(f"{state['accepted']} accepted of {params.n} sampled")
    if params.responses <= 0 or not state["prompt_ids"]:
        return []
    per_shard = max(1, params.batch_size // max(1, params.responses))
    ids = state["prompt_ids"]
    return [
        ({"phase": RESPOND, "first": offset + 1, "prompts": ids[offset : offset + per_shard]},
         len(ids[offset : offset + per_shard]))
        for offset in range(0, len(ids), per_shard)
    ]  # fmt: skip


def synthesize_done_message(job: Job, done: int, total: int) -> str:
    n = int((job.params or {}).get("n") or SynthesisParams.n)
    text = f"{min(done, n)} of {n} sampled"
    return text + (f"; responses for {done - n} of {total - n} instructions" if total > n else "")


def synthesize_finish(job: Job, progress: JobProgress) -> dict:
    """The job's result (phase 3): the stored counts and the responses shards' counts added up."""
    params = synthesis_params_clean(project=job.project, data=job.params)
    state = job.checkpoint
    responses: Counter = Counter()
    for result in job.shards.filter(payload__phase=RESPOND).values_list("result", flat=True):
        responses.update((result or {}).get("responses", {}))
    return {
        "model": state["model"],
        "sampled": params.n,
        "accepted": state["accepted"],
        "prompts_created": len(state["prompt_ids"]),
        "rejected": state["counts"],
        "responses": dict(responses),
        "params": params.as_dict(),
    }


SYNTHESIZE_SHARDS = ShardSpec(
    plan=synthesize_plan,
    run=synthesize_shards_run,
    finish=synthesize_finish,
    more=synthesize_more,
    done_message=synthesize_done_message,
)
