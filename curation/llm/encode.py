"""Summed last-layer hidden states per response, for CHES (ALGORITHMS.md §1.2, §1.5).

For a prompt x (chat-templated, generation prompt included) and a response y
the input is ``ids(x) + ids(y) + [end_of_turn]`` (token ids concatenated, so
no BPE merge across the boundary). The summed vector is
``Σ hidden_states[-1]`` over the positions from the last prompt token to the
second-to-last position: exactly the positions that predict each response
token, end-of-turn included; the final (end-of-turn) position never counts.
``n_tokens = len(ids(y)) + 1``. Sums accumulate in float32.

``encode_responses`` batches responses of one prompt with left padding and
explicit position ids; ``encode_reference`` runs one unbatched forward pass
per response (the paper's per-example script), for checking and benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .generate import prompt_ids
from .judge import left_pad
from .runtime import LoadedModel


def response_ids(loaded: LoadedModel, response: str) -> list[int]:
    """Response token ids followed by the end-of-turn token."""
    ids = loaded.tokenizer(response, add_special_tokens=False)["input_ids"]
    eot = loaded.end_of_turn_id if loaded.end_of_turn_id is not None else loaded.tokenizer.eos_token_id
    return [*ids, int(eot)]


def _inputs(loaded: LoadedModel, conversation, responses: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    loaded.require_local("hidden-state encoding")
    prompt = prompt_ids(loaded, conversation)
    return prompt, [response_ids(loaded, r) for r in responses]


@torch.inference_mode()
def encode_responses(
    loaded: LoadedModel, conversation, responses: Sequence[str], *, batch_size: int = 8
) -> list[tuple[np.ndarray, int]]:
    """``[(summed_hidden float32 [d], n_tokens)]`` for each response, batched (left padding)."""
    prompt, resp = _inputs(loaded, conversation, responses)
    p = len(prompt)
    order = sorted(range(len(resp)), key=lambda i: len(resp[i]))
    out: list[tuple[np.ndarray, int] | None] = [None] * len(resp)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        seqs = [prompt + resp[i] for i in idx]
        input_ids, attention, positions = left_pad(seqs, loaded.tokenizer.pad_token_id)
        hidden = loaded.model(
            input_ids=input_ids.to(loaded.device),
            attention_mask=attention.to(loaded.device),
            position_ids=positions.to(loaded.device),
            output_hidden_states=True,
        ).hidden_states[-1]
        width = input_ids.shape[1]
        for row, i in enumerate(idx):
            first = width - len(seqs[row]) + p - 1  # last prompt token in the padded row
            summed = hidden[row, first : width - 1].float().sum(0)
            out[i] = (summed.cpu().numpy().astype(np.float32), width - 1 - first)
    return out  # type: ignore[return-value]


@torch.inference_mode()
def encode_reference(loaded: LoadedModel, conversation, responses: Sequence[str]) -> list[tuple[np.ndarray, int]]:
    """Same as :func:`encode_responses`, one unbatched forward pass per response."""
    prompt, resp = _inputs(loaded, conversation, responses)
    p = len(prompt)
    out = []
    for ids in resp:
        x = torch.tensor([prompt + ids], device=loaded.device)
        h = loaded.model(input_ids=x, output_hidden_states=True).hidden_states[-1][0]
        segment = h[p - 1 : p + len(ids) - 1].float()
        out.append((segment.sum(0).cpu().numpy().astype(np.float32), int(segment.shape[0])))
    return out
