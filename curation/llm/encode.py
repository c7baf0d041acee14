"""Summed last-layer hidden states per response, for CHES (ALGORITHMS.md §1.2, §1.5).

For a prompt x (chat-templated, generation prompt included) and a response y
the input is ``ids(x) + ids(y) + [end_of_turn]`` (token ids concatenated, so
no BPE merge across the boundary). The summed vector is
``Σ hidden_states[-1]`` over the positions from the last prompt token to the
second-to-last position: exactly the positions that predict each response
token, end-of-turn included; the final (end-of-turn) position never counts.
``n_tokens = len(ids(y)) + 1``. Sums accumulate in float32.

``encode_responses`` encodes the responses of one prompt together:

* the prompt runs through the model **once**; its key/value cache is
  shared by every response (expanded over the batch), and its last
  position's hidden state is the first term of every response's sum;
* each distinct response (by token ids) is encoded once; the responses
  run in batches of ``batch_size`` sorted by length and **right**-padded
  after the shared prompt: with a common prefix, causal attention means a
  real token never sees a pad, so no attention mask is needed and the
  positions continue from the prompt's;
* only the response tokens before the end-of-turn token are fed (the
  end-of-turn position's own hidden state is never summed), and the model's
  decoder is called without the language-model head (the last hidden layer
  is the decoder's output after its final norm, exactly what ``lm_head``
  reads; §1.2).

``encode_reference`` runs one unbatched forward pass of the full model per
response with ``output_hidden_states`` (the paper's per-example script), for
checking and benchmarks. The two agree to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .generate import prompt_ids
from .runtime import LoadedModel

# Rows × padded width of one batch, at most (bounds memory for long responses).
MAX_BATCH_TOKENS = 8192


def default_batch_size(loaded: LoadedModel) -> int:
    """Responses per forward pass when the caller does not say: 1 on CPU, 8 on an accelerator.

    On CPU a forward pass of even one response is compute-bound, so batching
    buys nothing and the padding of unequal lengths costs up to ~2x (measured
    with bench/ches.py); on a GPU batching fills the device.
    """
    return 1 if str(loaded.device).startswith("cpu") else 8


def response_ids(loaded: LoadedModel, response: str) -> list[int]:
    """Response token ids followed by the end-of-turn token."""
    ids = loaded.tokenizer(response, add_special_tokens=False)["input_ids"]
    eot = loaded.end_of_turn_id if loaded.end_of_turn_id is not None else loaded.tokenizer.eos_token_id
    return [*ids, int(eot)]


def _inputs(loaded: LoadedModel, conversation, responses: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    loaded.require_local("hidden-state encoding")
    prompt = prompt_ids(loaded, conversation)
    return prompt, [response_ids(loaded, r) for r in responses]


def _decoder(model):
    """The transformer body without the LM head (its output is the post-norm last hidden layer)."""
    getter = getattr(model, "get_decoder", None)
    decoder = getter() if callable(getter) else None
    return decoder if decoder is not None else model.model


def _batches(lengths: list[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices sorted by length, cut into batches of at most ``batch_size`` rows and ``max_tokens`` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= batch_size or (len(current) + 1) * lengths[i] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


@torch.inference_mode()
def encode_responses(
    loaded: LoadedModel,
    conversation,
    responses: Sequence[str],
    *,
    batch_size: int = 8,
    max_batch_tokens: int = MAX_BATCH_TOKENS,
) -> list[tuple[np.ndarray, int]]:
    """``[(summed_hidden float32 [d], n_tokens)]`` for each response (see the module docstring)."""
    from transformers import DynamicCache

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    prompt, resp = _inputs(loaded, conversation, responses)
    if not resp:
        return []
    decoder = _decoder(loaded.model)
    device = loaded.device
    prefix = decoder(input_ids=torch.tensor([prompt], device=device), use_cache=True)
    h_last = prefix.last_hidden_state[0, -1].float()
    cached = [(layer.keys, layer.values) for layer in prefix.past_key_values.layers]

    distinct = list(dict.fromkeys(tuple(ids) for ids in resp))
    bodies = [list(ids[:-1]) for ids in distinct]  # the end-of-turn token is never fed
    sums: list[torch.Tensor] = [h_last] * len(distinct)
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    fed = [i for i, body in enumerate(bodies) if body]
    for batch in _batches([len(bodies[i]) for i in fed], batch_size, max_batch_tokens):
        rows = [fed[j] for j in batch]
        width = max(len(bodies[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        for row, i in enumerate(rows):
            input_ids[row, : len(bodies[i])] = torch.tensor(bodies[i], dtype=torch.long)
        cache = DynamicCache(
            [(k.expand(len(rows), -1, -1, -1), v.expand(len(rows), -1, -1, -1)) for k, v in cached],
            config=loaded.model.config,
        )
        hidden = decoder(input_ids=input_ids.to(device), past_key_values=cache, use_cache=True).last_hidden_state
        for row, i in enumerate(rows):
            sums[i] = h_last + hidden[row, : len(bodies[i])].float().sum(0)
    by_ids = {
        ids: (summed.cpu().numpy().astype(np.float32), len(ids)) for ids, summed in zip(distinct, sums, strict=True)
    }
    return [by_ids[tuple(ids)] for ids in resp]


@torch.inference_mode()
def encode_reference(loaded: LoadedModel, conversation, responses: Sequence[str]) -> list[tuple[np.ndarray, int]]:
    """Same as :func:`encode_responses`, one unbatched forward pass of the full model per response."""
    prompt, resp = _inputs(loaded, conversation, responses)
    p = len(prompt)
    out = []
    for ids in resp:
        x = torch.tensor([prompt + ids], device=loaded.device)
        h = loaded.model(input_ids=x, output_hidden_states=True).hidden_states[-1][0]
        segment = h[p - 1 : p + len(ids) - 1].float()
        out.append((segment.sum(0).cpu().numpy().astype(np.float32), int(segment.shape[0])))
    return out
