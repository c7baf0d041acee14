"""Judge primitives: verdicts from next-token probabilities, never parsed text.

Pairwise prompt (principle-free)::

    system: You are a fair judge of AI assistant responses. Read the user's prompt and two
            responses, then answer with a single letter: 'A' if Response 'A' is better, 'B' if
            Response 'B' is better.
    user:   ## Prompt\\n{prompt}\\n\\n## Response 'A'\\n{a}\\n\\n## Response 'B'\\n{b}\\n\\n## Answer

Principle prompt (docs/algorithms.md#discretion-inputs, after Buyl et al.'s ``prompt_template.py``)::

    system: You are an AI assistant that simply responds whether another AI assistant's
            Response 'A' or Response 'B' better adheres to the Principle. If neither response
            adheres to the Principle better than the other, or if the Principle is irrelevant
            to the Prompt, you respond with 'NA'. Respond only with 'A', 'B' or 'NA'.
    user:   ## Prompt\\n...\\n\\n## Principle\\n{principle}\\n\\n## Response 'A'\\n...\\n\\n
            ## Response 'B'\\n...\\n\\n## Answer

Thumb prompt::

    system: You are a fair judge of AI assistant responses. Answer only 'yes' or 'no'.
    user:   ## Prompt\\n...\\n\\n## Response\\n...\\n\\n## Question\\nIs this response good?
            Answer yes or no.\\n\\n## Answer

The chat template's generation prompt follows; the probability of each label
is the summed next-token probability of its first token, in each spelling the
tokenizer produces after the assistant prefix (bare and with a leading
space), renormalised over the labels. A multi-turn prompt is rendered as
``User: ...`` / ``Assistant: ...`` lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .model import LoadedModel

PAIRWISE_SYSTEM = (
    "You are a fair judge of AI assistant responses. Read the user's prompt and two responses, then answer "
    "with a single letter: 'A' if Response 'A' is better, 'B' if Response 'B' is better."
)
PRINCIPLE_SYSTEM = (
    "You are an AI assistant that simply responds whether another AI assistant's Response 'A' or Response 'B' "
    "better adheres to the Principle. If neither response adheres to the Principle better than the other, or if "
    "the Principle is irrelevant to the Prompt, you respond with 'NA'. Respond only with 'A', 'B' or 'NA'."
)
THUMB_SYSTEM = "You are a fair judge of AI assistant responses. Answer only 'yes' or 'no'."
THUMB_QUESTION = "Is this response good? Answer yes or no."


def render_conversation(conversation: Sequence[dict]) -> str:
    """The prompt shown to the judge: the user text, or role-labelled lines for multi-turn."""
    if isinstance(conversation, str):
        return conversation
    turns = [m for m in conversation if m.get("role") != "system"]
    if len(turns) == 1:
        return str(turns[0]["content"])
    return "\n".join(f"{str(m['role']).capitalize()}: {m['content']}" for m in conversation)


def pairwise_messages(conversation, response_a: str, response_b: str, principle: str | None = None) -> list[dict]:
    parts = [f"## Prompt\n{render_conversation(conversation)}"]
    if principle:
        parts.append(f"## Principle\n{principle}")
    parts += [f"## Response 'A'\n{response_a}", f"## Response 'B'\n{response_b}", "## Answer"]
    system = PRINCIPLE_SYSTEM if principle else PAIRWISE_SYSTEM
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def thumb_messages(conversation, response: str) -> list[dict]:
    user = (
        f"## Prompt\n{render_conversation(conversation)}\n\n## Response\n{response}\n\n"
        f"## Question\n{THUMB_QUESTION}\n\n## Answer"
    )
    return [{"role": "system", "content": THUMB_SYSTEM}, {"role": "user", "content": user}]


def _render(loaded: LoadedModel, messages: list[dict], assistant_prefix: str = "") -> str:
    """The chat-templated prompt with the generation prompt, then ``assistant_prefix`` (the
    start of the judge's answer, e.g. ``"Answer:"``; empty by default)."""
    tok = loaded.tokenizer
    try:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - templates without a system role: fold it into the user turn
        merged = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}]
        text = tok.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
    return text + assistant_prefix


def label_token_ids(loaded: LoadedModel, labels: Sequence[str], *, assistant_prefix: str = "") -> dict[str, list[int]]:
    """First-token ids of each label after the assistant prefix (bare and space-prefixed spellings)."""
    cache = loaded.extra.setdefault("label_ids", {})
    key = tuple(labels) if not assistant_prefix else (assistant_prefix, tuple(labels))
    if key in cache:
        return cache[key]
    tok = loaded.tokenizer
    prefix = _render(loaded, [{"role": "user", "content": "x"}], assistant_prefix)
    base = tok(prefix, add_special_tokens=False)["input_ids"]
    found: dict[str, list[int]] = {}
    for label in labels:
        ids: list[int] = []
        for spelling in (label, " " + label):
            full = tok(prefix + spelling, add_special_tokens=False)["input_ids"]
            k = 0
            while k < min(len(base), len(full)) and base[k] == full[k]:
                k += 1
            for tid in (full[k] if k < len(full) else None, tok(spelling, add_special_tokens=False)["input_ids"][0]):
                if tid is not None and tid not in ids:
                    ids.append(int(tid))
        found[label] = ids
    seen: dict[int, str] = {}
    for label, ids in found.items():
        for tid in ids:
            if tid in seen:
                raise ValueError(f"labels {seen[tid]!r} and {label!r} share first token {tid}; choose other labels")
            seen[tid] = label
    cache[key] = found
    return found


@torch.inference_mode()
def next_token_label_probs(
    loaded: LoadedModel,
    prompts: list[list[dict]],
    labels: Sequence[str],
    batch_size: int = 8,
    *,
    assistant_prefix: str = "",
    normalise: bool = True,
) -> list[dict[str, float]]:
    """Next-token probability of each label (its first tokens, :func:`label_token_ids`) after each
    chat prompt, batched with left padding and per-row position ids (each row scores as it would alone).

    ``normalise``: renormalised over the labels (default), else the raw softmax mass of each label.
    ``assistant_prefix`` is appended after the generation prompt (the start of the answer). The
    HTTP backend always renormalises and renders its own template (no assistant prefix there).
    """
    if not loaded.is_local:
        return [loaded.client.label_probs(messages, labels) for messages in prompts]
    ids_by_label = label_token_ids(loaded, labels, assistant_prefix=assistant_prefix)
    tok = loaded.tokenizer
    encoded = [tok(_render(loaded, m, assistant_prefix), add_special_tokens=False)["input_ids"] for m in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: list[dict[str, float] | None] = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = [encoded[i] for i in idx]
        input_ids, attention, positions = left_pad(batch, tok.pad_token_id)
        logits = loaded.model(
            input_ids=input_ids.to(loaded.device),
            attention_mask=attention.to(loaded.device),
            position_ids=positions.to(loaded.device),
        ).logits[:, -1, :]
        probs = torch.softmax(logits.float(), dim=-1).cpu()
        for row, i in enumerate(idx):
            raw = {label: float(probs[row, ids].sum()) for label, ids in ids_by_label.items()}
            results[i] = _normalise(raw) if normalise else raw
    return results  # type: ignore[return-value]


_next_token_label_probs = next_token_label_probs  # the earlier private name


def _normalise(raw: dict[str, float]) -> dict[str, float]:
    total = sum(raw.values())
    if total <= 0 or not math.isfinite(total):
        return {k: 1.0 / len(raw) for k in raw}
    return {k: v / total for k, v in raw.items()}


def left_pad(batch: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ids, attention mask and position ids (0 at each row's first real token)."""
    width = max(len(x) for x in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention, positions


def pairwise_probs(
    loaded: LoadedModel, conversation, response_a: str, response_b: str, *, principle: str | None = None
) -> dict[str, float]:
    """``{"A": p, "B": p}`` (plus ``"NA"`` with a principle), summing to 1."""
    return pairwise_probs_batch(loaded, [(conversation, response_a, response_b)], principle=principle)[0]


def pairwise_probs_batch(
    loaded: LoadedModel,
    pairs: Sequence[tuple],
    *,
    principle: str | None = None,
    batch_size: int = 8,
) -> list[dict[str, float]]:
    """:func:`pairwise_probs` for many ``(conversation, response_a, response_b[, principle])`` tuples.

    A fourth tuple element overrides ``principle`` for that pair.
    """
    prompts, label_sets = [], []
    for pair in pairs:
        conv, a, b = pair[0], pair[1], pair[2]
        p = pair[3] if len(pair) > 3 else principle
        prompts.append(pairwise_messages(conv, a, b, p))
        label_sets.append(("A", "B", "NA") if p else ("A", "B"))
    out: list[dict[str, float] | None] = [None] * len(prompts)
    for labels in {tuple(s) for s in label_sets}:
        idx = [i for i, s in enumerate(label_sets) if s == labels]
        for i, probs in zip(idx, _next_token_label_probs(loaded, [prompts[i] for i in idx], labels, batch_size)):
            out[i] = probs
    return out  # type: ignore[return-value]


def _order_verdict(probs: dict[str, float]) -> str:
    a, b, na = probs["A"], probs["B"], probs.get("NA", -1.0)
    if na > a and na > b:
        return "NA"
    if a > b:
        return "A"
    if b > a:
        return "B"
    return "tie"


def combine_orders(probs_ab: dict[str, float], probs_ba: dict[str, float]) -> dict:
    """Combine a pair judged as (A, B) and swapped (B, A), FastChat-style (docs/algorithms.md#position-swap).

    The swapped order's verdict is mapped back ('A' there means response_b).
    ``verdict`` is 'A' / 'B' / 'NA' / 'tie' when both orders agree, else 'inconsistent'.
    ``p_a`` is response_a's win probability averaged over both orders (label mass of 'NA' excluded).
    """
    first = _order_verdict(probs_ab)
    swapped = {"A": "B", "B": "A"}.get(_order_verdict(probs_ba), _order_verdict(probs_ba))
    verdict = first if first == swapped else "inconsistent"
    p_a = 0.5 * (_share(probs_ab["A"], probs_ab["B"]) + _share(probs_ba["B"], probs_ba["A"]))
    return {
        "verdict": verdict,
        "order_ab": dict(probs_ab),
        "order_ba": dict(probs_ba),
        "verdict_ab": first,
        "verdict_ba_mapped": swapped,
        "p_a": p_a,
    }


def _share(x: float, y: float) -> float:
    return 0.5 if x + y <= 0 else x / (x + y)


def pairwise_judgment_both_orders(
    loaded: LoadedModel, conversation, response_a: str, response_b: str, *, principle: str | None = None
) -> dict:
    """Judge (A=a, B=b) and (A=b, B=a); see :func:`combine_orders` for the result.

    ``order_ab`` holds the raw probabilities of the first presentation,
    ``order_ba`` those of the swapped presentation (its 'A' is response_b).
    """
    ab, ba = pairwise_probs_batch(
        loaded, [(conversation, response_a, response_b), (conversation, response_b, response_a)], principle=principle
    )
    return combine_orders(ab, ba)


def pairwise_judgments_batch(
    loaded: LoadedModel, pairs: Sequence[tuple], *, principle: str | None = None, batch_size: int = 8
) -> list[dict]:
    """:func:`pairwise_judgment_both_orders` for many ``(conversation, a, b[, principle])`` tuples."""
    expanded = []
    for pair in pairs:
        expanded.append(tuple(pair))
        expanded.append((pair[0], pair[2], pair[1], *pair[3:]))
    probs = pairwise_probs_batch(loaded, expanded, principle=principle, batch_size=batch_size)
    return [combine_orders(probs[2 * i], probs[2 * i + 1]) for i in range(len(pairs))]


def thumb_probs(loaded: LoadedModel, conversation, response: str) -> dict[str, float]:
    """``{"yes": p, "no": p}`` for 'Is this response good?' (both capitalisations summed)."""
    return thumb_probs_batch(loaded, [(conversation, response)])[0]


def thumb_probs_batch(loaded: LoadedModel, items: Sequence[tuple], *, batch_size: int = 8) -> list[dict[str, float]]:
    labels = ("yes", "Yes", "no", "No")
    raw = _next_token_label_probs(loaded, [thumb_messages(c, r) for c, r in items], labels, batch_size)
    return [_normalise({"yes": p["yes"] + p["Yes"], "no": p["no"] + p["No"]}) for p in raw]


def win_matrix(loaded: LoadedModel, conversation, responses: Sequence[str], *, batch_size: int = 8) -> np.ndarray:
    """``P[i, j]`` = probability the judge prefers response i over j (both orders averaged); diagonal 0.5."""
    k = len(responses)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    judged = pairwise_judgments_batch(
        loaded, [(conversation, responses[i], responses[j]) for i, j in pairs], batch_size=batch_size
    )
    matrix = np.full((k, k), 0.5)
    for (i, j), res in zip(pairs, judged):
        matrix[i, j] = res["p_a"]
        matrix[j, i] = 1.0 - res["p_a"]
    return matrix


def ranking_from_pairwise(probs) -> dict:
    """Rank responses from a pairwise win-probability matrix ``P[i, j] = P(i beats j)``.

    Copeland score (1 per opponent beaten with P > 0.5, 0.5 per exact 0.5),
    ties broken by the mean win probability (Borda on probabilities); items
    with equal (score, mean) share a rank. Returns ``{"ranks": [1 = best, ...],
    "order": [indices best first], "scores": [copeland], "mean_win": [...]}``.
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"probs must be a square matrix, got shape {p.shape}")
    k = p.shape[0]
    off = ~np.eye(k, dtype=bool)
    copeland = ((p > 0.5) & off).sum(1) + 0.5 * ((p == 0.5) & off).sum(1)
    mean_win = np.where(off, p, 0).sum(1) / max(k - 1, 1)
    keys = [(round(float(copeland[i]), 9), round(float(mean_win[i]), 12)) for i in range(k)]
    order = sorted(range(k), key=lambda i: (-keys[i][0], -keys[i][1], i))
    ranks = [0] * k
    for pos, i in enumerate(order):
        ranks[i] = ranks[order[pos - 1]] if pos and keys[i] == keys[order[pos - 1]] else pos + 1
    return {"ranks": ranks, "order": order, "scores": copeland.tolist(), "mean_win": mean_win.tolist()}
