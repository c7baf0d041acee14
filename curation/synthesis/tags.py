"""Quality tags for synthesized instructions, from the judge's next-token
probabilities over fixed labels (never parsed free text).

Magpie (docs/algorithms.md#quality-tags) asks a judge for input quality, difficulty and
task category and parses JSON. Here each tag is one multiple-choice question
whose options are single-token letters (A–E, A–L; digits
are no good: some tokenizers split " 1" into a space and the digit); the tag is the
option with the largest probability after contextual calibration: every
question is also asked once about a content-free query ("N/A") and each
option's probability is divided by that prior, then renormalised (Zhao et
al. 2021, as ``curation.judging.runner`` does for A/B). Small judges put
most of their mass on one option whatever the query; calibration removes
that constant preference. Both raw and calibrated label probabilities are
returned.

Label sets (Magpie's own names):

* ``input_quality``: very poor, poor, average, good, excellent
* ``difficulty``: very easy, easy, medium, hard, very hard
* ``category``: the 12 task categories of Magpie's ``input_classification``
  ("Others" kept with its s, see docs/algorithms.md#quality-tags gotcha).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from curation.llm.judge import _normalise, _render, label_token_ids, next_token_label_probs
from curation.llm.model import LoadedModel

CONTENT_FREE = "N/A"
SYSTEM = "You classify user queries sent to an AI assistant. Reply with a single character."


@dataclass(frozen=True)
class TagQuestion:
    name: str
    question: str
    values: tuple[str, ...]
    keys: tuple[str, ...]

    def prompt(self, instruction: str) -> list[dict]:
        """The question first, the query last: every prompt of a question shares
        everything up to the query, so its key/value cache is computed once."""
        options = "\n".join(f"{k}: {v}" for k, v in zip(self.keys, self.values))
        user = f"## Question\n{self.question}\n{options}\n\n## User query\n{instruction}\n\n## Answer"
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


QUALITY = TagQuestion(
    "input_quality",
    "How clear, specific and coherent is the user query? Reply with one letter.",
    ("very poor", "poor", "average", "good", "excellent"),
    tuple("ABCDE"),
)
DIFFICULTY = TagQuestion(
    "difficulty",
    "How difficult is it to answer the user query well? Reply with one letter.",
    ("very easy", "easy", "medium", "hard", "very hard"),
    tuple("ABCDE"),
)
CATEGORIES = (
    "Information seeking",
    "Reasoning",
    "Planning",
    "Editing",
    "Coding & Debugging",
    "Math",
    "Role playing",
    "Data analysis",
    "Creative writing",
    "Advice seeking",
    "Brainstorming",
    "Others",
)
CATEGORY = TagQuestion(
    "category",
    "Which task category fits the user query best? Reply with one letter.",
    CATEGORIES,
    tuple("ABCDEFGHIJKL"),
)
QUESTIONS = (QUALITY, DIFFICULTY, CATEGORY)


def label_probs_batch(
    loaded: LoadedModel, prompts: Sequence[list[dict]], labels: Sequence[str], *, batch_size: int = 16
) -> list[dict[str, float]]:
    """Renormalised next-token probability of each label after each chat prompt
    (``curation.llm.judge.next_token_label_probs``: one implementation for judges and tags)."""
    return next_token_label_probs(loaded, [list(p) for p in prompts], tuple(labels), batch_size)


def calibrate(raw: dict[str, float], prior: dict[str, float]) -> dict[str, float]:
    """Divide by the content-free prior and renormalise (labels with zero prior get a tiny floor)."""
    return _normalise({k: raw[k] / max(prior.get(k, 0.0), 1e-12) for k in raw})


SENTINEL = "\u2063DOCKET-TAG-QUERY\u2063"


def _split_prompt(loaded: LoadedModel, q: TagQuestion) -> tuple[list[int], str]:
    """Token ids of the chat-templated prompt up to the query, and the text after it."""
    text = _render(loaded, q.prompt(SENTINEL))
    head, tail = text.split(SENTINEL)
    return loaded.tokenizer(head, add_special_tokens=False)["input_ids"], tail


@torch.inference_mode()
def _prefix_cache(loaded: LoadedModel, q: TagQuestion):
    """(prefix ids, key/value cache of the prefix, text after the query), once per model and question."""
    cache = loaded.extra.setdefault("tag_prefix", {})
    if q.name not in cache:
        ids, tail = _split_prompt(loaded, q)
        out = loaded.model(input_ids=torch.tensor([ids], device=loaded.device), use_cache=True)
        cache[q.name] = (ids, out.past_key_values, tail)
    return cache[q.name]


@torch.inference_mode()
def label_probs_shared_prefix(
    loaded: LoadedModel, q: TagQuestion, instructions: Sequence[str], *, batch_size: int = 16
) -> list[dict[str, float]]:
    """:func:`label_probs_batch` for ``q.prompt(text)`` of each text, computing the shared
    prefix once: each batch runs only the query and the template's tail on top of a copy
    of the prefix's key/value cache, right-padded (causal attention: the padding after a
    row's last token cannot change it), reading the logits at each row's last token."""
    import copy

    ids_by_label = label_token_ids(loaded, tuple(q.keys))
    prefix, base, tail = _prefix_cache(loaded, q)
    tok = loaded.tokenizer
    p = len(prefix)
    suffixes = [tok(text + tail, add_special_tokens=False)["input_ids"] for text in instructions]
    order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))
    out: list[dict[str, float]] = [{} for _ in suffixes]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(suffixes[i]) for i in idx)
        input_ids = torch.full((len(idx), width), tok.pad_token_id, dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, : len(suffixes[i])] = torch.tensor(suffixes[i], dtype=torch.long)
        past = copy.deepcopy(base)
        past.batch_repeat_interleave(len(idx))
        logits = loaded.model(
            input_ids=input_ids.to(loaded.device),
            attention_mask=torch.ones((len(idx), p + width), dtype=torch.long, device=loaded.device),
            position_ids=torch.arange(p, p + width, device=loaded.device).expand(len(idx), -1),
            past_key_values=past,
            use_cache=True,
        ).logits
        last = torch.tensor([len(suffixes[i]) - 1 for i in idx], device=logits.device)
        probs = torch.softmax(logits[torch.arange(len(idx), device=logits.device), last].float(), dim=-1).cpu()
        for row, i in enumerate(idx):
            out[i] = _normalise({label: float(probs[row, ids].sum()) for label, ids in ids_by_label.items()})
    return out


def _prior(loaded: LoadedModel, q: TagQuestion) -> dict[str, float]:
    cache = loaded.extra.setdefault("tag_prior", {})
    if q.name not in cache:
        cache[q.name] = label_probs_batch(loaded, [q.prompt(CONTENT_FREE)], q.keys)[0]
    return cache[q.name]


def tags_for(
    loaded: LoadedModel, instructions: Sequence[str], *, questions=QUESTIONS, batch_size: int = 16
) -> list[dict]:
    """For each instruction ``{name: value, name + "_p": {value: calibrated p}}`` per question,
    plus ``"raw"``: ``{name: {value: uncalibrated p}}``. Values come from each question's own list.

    Local models reuse each question's prefix cache (:func:`label_probs_shared_prefix`);
    the content-free prior is computed once per model and question."""
    instructions = list(instructions)
    tags: list[dict] = [{"raw": {}} for _ in instructions]
    if not instructions:
        return tags
    for q in questions:
        if loaded.is_local:
            probs = label_probs_shared_prefix(loaded, q, instructions, batch_size=batch_size)
        else:
            probs = label_probs_batch(loaded, [q.prompt(text) for text in instructions], q.keys)
        prior = _prior(loaded, q)
        for tag, raw in zip(tags, probs):
            cal = calibrate(raw, prior)
            best = max(q.keys, key=lambda k: (cal[k], -q.keys.index(k)))
            tag[q.name] = q.values[q.keys.index(best)]
            tag[q.name + "_p"] = {q.values[i]: round(cal[k], 4) for i, k in enumerate(q.keys)}
            tag["raw"][q.name] = {q.values[i]: round(raw[k], 4) for i, k in enumerate(q.keys)}
    return tags
