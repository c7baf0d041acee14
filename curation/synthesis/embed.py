"""Instruction embeddings from the generator's own hidden states, for the
near-duplicate filter (docs/algorithms.md#near-duplicates uses a sentence-embedding model;
we use the model already in memory, so no second model is loaded).

A text's vector is the mean, over its tokens (no chat template, no special
tokens), of one hidden layer, minus a fixed "background" vector (the mean
over a few unrelated sentences, computed once per model and layer).
Decoder hidden states share a large common direction, so without that
centring every pair of texts has a cosine near 1 and a distance threshold
would mean little; after it, paraphrases sit close and unrelated
instructions far apart (tests/synthesis/test_synthesis_job.py checks both on
the default model). Rows are batched with left padding and explicit
position ids; means accumulate in float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from curation.llm.judge import left_pad
from curation.llm.model import LoadedModel

DEFAULT_LAYER = -1
MAX_TOKENS = 256

# Topic-diverse sentences whose mean hidden state is the background removed from every vector.
BACKGROUND = (
    "How do I bake sourdough bread at home?",
    "Write a Python function that reverses a linked list.",
    "What caused the fall of the Roman Empire?",
    "Give me three tips for a job interview.",
    "Solve for x: 3x + 7 = 22.",
    "Translate 'good morning' into French.",
    "Write a short poem about the sea.",
    "What are the symptoms of the flu?",
    "Plan a three-day trip to Tokyo.",
    "Explain how a neural network learns.",
    "Which stocks should a beginner avoid?",
    "Describe the rules of chess briefly.",
)


@torch.inference_mode()
def _mean_pooled(loaded: LoadedModel, texts: Sequence[str], *, layer: int, batch_size: int) -> np.ndarray:
    loaded.require_local("hidden-state embeddings")
    tok = loaded.tokenizer
    encoded = [tok(t, add_special_tokens=False)["input_ids"][:MAX_TOKENS] or [tok.pad_token_id] for t in texts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    dim = loaded.model.config.hidden_size
    out = np.zeros((len(encoded), dim), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        input_ids, attention, positions = left_pad([encoded[i] for i in idx], tok.pad_token_id)
        hidden = loaded.model(
            input_ids=input_ids.to(loaded.device),
            attention_mask=attention.to(loaded.device),
            position_ids=positions.to(loaded.device),
            output_hidden_states=True,
        ).hidden_states[layer]
        mask = attention.to(hidden.device).unsqueeze(-1).float()
        means = (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1)
        out[idx] = means.cpu().numpy()
    return out


def background(loaded: LoadedModel, *, layer: int = DEFAULT_LAYER) -> np.ndarray:
    """The mean vector of :data:`BACKGROUND` (cached on the loaded model)."""
    cache = loaded.extra.setdefault("embed_background", {})
    if layer not in cache:
        cache[layer] = _mean_pooled(loaded, BACKGROUND, layer=layer, batch_size=len(BACKGROUND)).mean(0)
    return cache[layer]


def embed_texts(
    loaded: LoadedModel, texts: Sequence[str], *, layer: int = DEFAULT_LAYER, batch_size: int = 32
) -> np.ndarray:
    """``[len(texts), hidden_size]`` float32: centred mean-pooled hidden states (not normalised)."""
    if not texts:
        return np.zeros((0, loaded.model.config.hidden_size), dtype=np.float32)
    return _mean_pooled(loaded, texts, layer=layer, batch_size=batch_size) - background(loaded, layer=layer)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
