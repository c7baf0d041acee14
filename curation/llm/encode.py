"""Summed last-layer hidden states per response, for CHES (docs/algorithms.md#ches-encoding).

For a prompt x (chat-templated, generation prompt included) and a response y
the input is ``ids(x) + ids(y) + [end_of_turn]`` (token ids concatenated, so
no BPE merge across the boundary). The summed vector is
``Σ hidden_states[-1]`` over the positions from the last prompt token to the
second-to-last position: exactly the positions that predict each response
token, end-of-turn included; the final (end-of-turn) position never counts.
``n_tokens = len(ids(y)) + 1``. Sums accumulate in float32.

``encode_many`` encodes the responses of many prompts together
(``encode_responses`` is the one-prompt case):

* each distinct prompt runs through the model **once**; its key/value
  cache is shared by its responses, and its last position's hidden state is
  the first term of every one of their sums. The prompts' longest common
  prefix (a shared system prompt, the chat template's head) runs once
  before them, and the prompts run in batches sorted by length,
  **right**-padded: causal attention keeps real tokens off the pads, which
  are trimmed from each prompt's cache;
* each distinct response of a prompt (by token ids) is encoded once. The
  responses of **all** the prompts are grouped by their prompt's length band
  (a factor of √2), sorted by length and run in batches of ``batch_size``
  rows (at most ``max_batch_tokens`` padded tokens, lengths within
  ``BATCH_SPREAD`` of the batch's shortest), each
  row continuing its own prompt's cache: the caches are right-padded to the
  batch's longest prompt, a 2-D attention mask hides those pad slots and
  each row's positions continue from its own prompt length. Sorting across
  prompts keeps the padding small, and the larger matrix products of a
  batch run ~1.5x faster per token than one response at a time on CPU
  (bench/ches.py);
* only the response tokens before the end-of-turn token are fed (the
  end-of-turn position's own hidden state is never summed), and the model's
  decoder is called without the language-model head (the last hidden layer
  is the decoder's output after its final norm, exactly what ``lm_head``
  reads; docs/algorithms.md#ches-encoding).

``encode_reference`` runs one unbatched forward pass of the full model per
response with ``output_hidden_states`` (the paper's per-example script), for
checking and benchmarks. The two agree to float32 rounding.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import torch

from .generate import prompt_ids
from .model import LoadedModel, setting

# Rows × padded width of one batch, at most (bounds memory for long responses).
MAX_BATCH_TOKENS = 8192


def default_batch_size(loaded: LoadedModel) -> int:
    """Rows per forward pass when the caller does not say: 4 on CPU; on a GPU from its free memory.

    On CPU (2 cores, SmolLM2-135M, bench/ches.py) 4 rows of similar length
    ran ~1.5x faster per token than 1; 8 and 16 were no faster and 32 slower
    (longer attention, larger buffers). A GPU wants full batches: rows =
    :func:`default_max_batch_tokens` ÷ 256 (a typical response), between 8 and 256.
    """
    if str(loaded.device).startswith("cpu"):
        return 4
    return max(8, min(256, default_max_batch_tokens(loaded) // 256))


def _bytes_per_token(loaded: LoadedModel) -> int:
    """Accelerator memory one fed token needs during a pass: its keys/values in every layer plus the widest
    activations (the MLP's), at the model's dtype."""
    config = loaded.model.config
    size = next(loaded.model.parameters()).element_size()
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    intermediate = getattr(config, "intermediate_size", 4 * config.hidden_size)
    kv = 2 * config.num_hidden_layers * kv_heads * head_dim * size
    return kv + (4 * intermediate + 8 * config.hidden_size) * size


def default_max_batch_tokens(loaded: LoadedModel) -> int:
    """Padded tokens per pass, at most: ``MAX_BATCH_TOKENS`` on CPU; on a GPU, 40 % of its free memory
    (``runtime.free_accelerator_bytes``) ÷ the bytes a token needs, between ``MAX_BATCH_TOKENS`` and 2^18."""
    from .runtime import free_accelerator_bytes

    free = free_accelerator_bytes(str(loaded.device))
    if not free:
        return MAX_BATCH_TOKENS
    return int(max(MAX_BATCH_TOKENS, min(1 << 18, 0.4 * free // _bytes_per_token(loaded))))


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


ENCODE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (``avx512_bf16`` or ``amx_bf16`` among its flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:  # pragma: no cover - non-Linux
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def encode_dtype(loaded: LoadedModel) -> torch.dtype:
    """The dtype of the encoder's matrix products (docs/algorithms.md#ches-encoding).

    The model's own dtype, except a float32 model on a CPU whose flags say it
    multiplies bfloat16 natively (:func:`cpu_has_bf16`): there the decoder's
    linear layers run in bfloat16 (about 5x the float32 matmul rate on the
    2-core AVX-512 machine of bench/ches.py) while everything else stays
    float32. ``DOCKET_ENCODE_DTYPE`` = ``float32`` / ``bfloat16`` forces one
    (``auto``, the default, applies the rule); a half-precision model (a GPU)
    always runs at its own dtype.
    """
    own = next(loaded.model.parameters()).dtype
    if own != torch.float32:
        return own
    wanted = str(setting("DOCKET_ENCODE_DTYPE", "auto") or "auto").strip().lower()
    if wanted in ENCODE_DTYPES:
        return ENCODE_DTYPES[wanted]
    if wanted != "auto":
        raise ValueError(f"DOCKET_ENCODE_DTYPE must be auto, float32 or bfloat16, got {wanted!r}")
    return torch.bfloat16 if str(loaded.device).startswith("cpu") and cpu_has_bf16() else own


class LowPrecisionLinear(torch.nn.Module):
    """A linear layer whose product runs at a lower dtype: the input is rounded to it, the weight stored in it,
    the product accumulated in float32 by the kernel and handed back at the input's dtype (float32), so the
    residual stream, the norms and attention stay float32."""

    def __init__(self, linear: torch.nn.Linear, dtype: torch.dtype):
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().to(dtype), requires_grad=False)
        bias = linear.bias
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.linear(x.to(self.weight.dtype), self.weight).to(x.dtype)
        return y if self.bias is None else y + self.bias


def encoder(loaded: LoadedModel):
    """The decoder the encoder runs: :func:`_decoder` itself at the model's dtype, else (see
    :func:`encode_dtype`) a copy of it with every ``nn.Linear`` a :class:`LowPrecisionLinear`, built once per
    loaded model and dtype (the embeddings and norms shared with the model, not copied)."""
    decoder = _decoder(loaded.model)
    dtype = encode_dtype(loaded)
    if dtype == next(decoder.parameters()).dtype:
        return decoder
    held = loaded.extra.get("encoder")
    if held is not None and held[0] is decoder and held[1] == dtype:
        return held[2]
    embed = getattr(decoder, "embed_tokens", None)
    memo = {id(embed): embed} if embed is not None else {}
    low = copy.deepcopy(decoder, memo)
    for module in list(low.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, LowPrecisionLinear(child, dtype))
    low.eval()
    loaded.extra["encoder"] = (decoder, dtype, low)
    return low


# A batch's rows stay within this factor (+ BATCH_SLACK tokens) of its shortest row: padding costs as much as
# real tokens. With the prompt bands below, this cut the padded work of the encode job on a chat-shaped 2,300-pair
# set from 133 to 119 TFLOP (real work 109; bench/ches.py's data, 32 prompts per step).
BATCH_SPREAD = 1.3
BATCH_SLACK = 8


def _batches(lengths: list[int], batch_size: int, max_tokens: int, groups: list[int] | None = None) -> list[list[int]]:
    """Indices sorted by (group, length), cut into batches of at most ``batch_size`` rows and ``max_tokens``
    padded tokens, each within one group and within ``BATCH_SPREAD`` × its shortest length + ``BATCH_SLACK``."""
    keys = groups or [0] * len(lengths)
    order = sorted(range(len(lengths)), key=lambda i: (keys[i], lengths[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (
            len(current) >= batch_size
            or (len(current) + 1) * lengths[i] > max_tokens
            or keys[i] != keys[current[0]]
            or lengths[i] > BATCH_SPREAD * lengths[current[0]] + BATCH_SLACK
        ):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _length_band(n: int) -> int:
    """``floor(2·log2(n))``: lengths within a factor of √2 share a band."""
    return int(2 * math.log2(max(n, 1)))


def encode_responses(
    loaded: LoadedModel,
    conversation,
    responses: Sequence[str],
    *,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
) -> list[tuple[np.ndarray, int]]:
    """``[(summed_hidden float32 [d], n_tokens)]`` for each response of one prompt (see :func:`encode_many`)."""
    return encode_many(loaded, [(conversation, responses)], batch_size=batch_size, max_batch_tokens=max_batch_tokens)[0]


def _expanded(layers: list[tuple[torch.Tensor, torch.Tensor]], rows: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One prompt's per-layer keys/values as a batch of ``rows`` (views, no copy)."""
    return [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers]


def _cache(loaded: LoadedModel, layers: list[tuple[torch.Tensor, torch.Tensor]]):
    from transformers import DynamicCache

    return DynamicCache(layers, config=loaded.model.config)


@torch.inference_mode()
def encode_many(
    loaded: LoadedModel,
    prompts: Sequence[tuple[object, Sequence[str]]],
    *,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    on_batch=None,
) -> list[list[tuple[np.ndarray, int]]]:
    """Per ``(conversation, responses)`` of ``prompts``: ``[(summed_hidden float32 [d], n_tokens)]`` per response.

    See the module docstring: prompts run first (batched, right-padded), then
    the distinct responses of all the prompts together, batched by length,
    each row on its own prompt's cache. ``on_batch(done, total)``, when
    given, is called after each forward pass with the distinct prompts and
    responses done so far and their total (a job's heartbeat and progress).
    """
    batch_size = batch_size or default_batch_size(loaded)
    max_batch_tokens = max_batch_tokens or default_max_batch_tokens(loaded)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not prompts:
        return []
    encoded = [_inputs(loaded, conversation, responses) for conversation, responses in prompts]
    decoder = encoder(loaded)
    device = loaded.device
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0

    # 1. Each distinct prompt (with responses) once: its last hidden state and its keys/values, trimmed.
    #    Their longest common prefix (a system prompt, the chat template's head) runs once before them.
    distinct = list(dict.fromkeys(tuple(prompt) for prompt, resp in encoded if resp))
    shared = _shared_prefix(distinct)
    prefix = None
    if shared:
        head = decoder(input_ids=torch.tensor([distinct[0][:shared]], device=device), use_cache=True)
        prefix = [(layer.keys, layer.values) for layer in head.past_key_values.layers]
    h_last: dict[tuple[int, ...], torch.Tensor] = {}
    kv: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}
    units_total = len(distinct) + len({(tuple(p), tuple(i)) for p, resp in encoded for i in resp if len(i) > 1})
    units_done = 0
    for batch in _batches([len(prompt) - shared for prompt in distinct], batch_size, max_batch_tokens):
        rows = [distinct[j] for j in batch]
        cache = _cache(loaded, _expanded(prefix, len(rows))) if prefix is not None else None
        out = decoder(
            input_ids=_padded([list(prompt[shared:]) for prompt in rows], pad).to(device),
            past_key_values=cache,
            use_cache=True,
        )
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        for row, prompt in enumerate(rows):
            n = len(prompt)
            h_last[prompt] = out.last_hidden_state[row, n - shared - 1].float()
            kv[prompt] = [(k[row : row + 1, :, :n], v[row : row + 1, :, :n]) for k, v in layers]
        units_done += len(rows)
        if on_batch is not None:
            on_batch(units_done, units_total)

    # 2. Each distinct (prompt, response) once, all prompts together; the end-of-turn token is never fed.
    units: dict[tuple[tuple[int, ...], tuple[int, ...]], torch.Tensor] = {}
    for prompt, resp in encoded:
        for ids in resp:
            units.setdefault((tuple(prompt), tuple(ids)), h_last[tuple(prompt)])
    keys = list(units)
    fed = [u for u, (_prompt, ids) in enumerate(keys) if len(ids) > 1]
    # Grouped by the prompt's length band (within a factor of √2), then sorted by the response's length: the rows
    # of a batch pad their caches to its longest prompt, so a long prompt among short ones would cost every row
    # attention over its length and a copy of its keys/values.
    bands = [_length_band(len(keys[u][0])) for u in fed]
    for batch in _batches([len(keys[u][1]) - 1 for u in fed], batch_size, max_batch_tokens, bands):
        rows = [keys[fed[j]] for j in batch]
        bodies = [list(ids[:-1]) for _prompt, ids in rows]
        hidden = _on_prompts(decoder, loaded, [kv[prompt] for prompt, _ids in rows], bodies, pad, device)
        for row, (unit, body) in enumerate(zip(rows, bodies, strict=True)):
            units[unit] = h_last[unit[0]] + hidden[row, : len(body)].float().sum(0)
        units_done += len(rows)
        if on_batch is not None:
            on_batch(units_done, units_total)
    return [
        [(units[(tuple(prompt), tuple(ids))].cpu().numpy().astype(np.float32), len(ids)) for ids in resp]
        for prompt, resp in encoded
    ]


def _shared_prefix(prompts: list[tuple[int, ...]]) -> int:
    """Length of the longest common prefix of two or more prompts, leaving each at least one token of its own."""
    if len(prompts) < 2:
        return 0
    shortest = min(len(p) for p in prompts)
    n = 0
    while n < shortest - 1 and all(p[n] == prompts[0][n] for p in prompts):
        n += 1
    return n


def _padded(rows: list[list[int]], pad: int) -> torch.Tensor:
    """Right-padded ``[len(rows), max len]`` token ids."""
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long)
    for row, ids in enumerate(rows):
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def _on_prompts(decoder, loaded, caches, bodies, pad, device) -> torch.Tensor:
    """Last hidden states ``[rows, width, d]`` of ``bodies``, each continuing its own prompt's cache.

    One prompt for every row: its cache is expanded over the batch and, the
    responses being right-padded, no mask is needed (causal attention keeps
    real tokens off the pads). Several prompts: the caches are right-padded
    to the longest prompt, a 2-D attention mask hides those pad slots and
    each row's positions continue from its own prompt length.
    """
    input_ids = _padded(bodies, pad).to(device)
    rows, width = input_ids.shape
    lengths = [c[0][0].shape[2] for c in caches]
    if all(c is caches[0] for c in caches):
        cache = _cache(loaded, _expanded(caches[0], rows))
        return decoder(input_ids=input_ids, past_key_values=cache, use_cache=True).last_hidden_state
    longest = max(lengths)
    layers = []
    for layer in range(len(caches[0])):
        k0, v0 = caches[0][layer]
        k = k0.new_zeros((rows, k0.shape[1], longest, k0.shape[3]))
        v = v0.new_zeros((rows, v0.shape[1], longest, v0.shape[3]))
        for row, cache in enumerate(caches):
            n = lengths[row]
            k[row, :, :n] = cache[layer][0][0]
            v[row, :, :n] = cache[layer][1][0]
        layers.append((k, v))
    mask = torch.zeros((rows, longest + width), dtype=torch.long)
    mask[:, longest:] = 1
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    positions = torch.tensor(lengths, dtype=torch.long)[:, None] + torch.arange(width)[None, :]
    return decoder(
        input_ids=input_ids,
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        past_key_values=_cache(loaded, layers),
        use_cache=True,
    ).last_hidden_state


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
