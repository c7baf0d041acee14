"""Batched generation from chat conversations or raw prefixes.

``generate`` renders each conversation with the tokenizer's chat template
(``add_generation_prompt=True``), sorts prompts by length so batches carry
little padding, left-pads, and samples ``n`` continuations per prompt with
``model.generate`` (``do_sample`` when ``temperature > 0``, greedy otherwise),
stopping at the end-of-turn token. Results come back in input order.

Reproducibility: with ``seed`` set, batch ``i`` runs under
``torch.manual_seed(seed + i)`` inside a forked RNG state, so the same call
(same conversations, batch size and seed) gives the same texts, and the
global RNG is left untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch

from .model import GenerationOutput, LoadedModel

OnBatch = Callable[[int, int], bool | None]


def render_prompt(loaded: LoadedModel, conversation: Sequence[dict]) -> str:
    """The chat-templated prompt text (with the assistant generation prompt)."""
    _check_conversation(conversation)
    return loaded.tokenizer.apply_chat_template(list(conversation), tokenize=False, add_generation_prompt=True)


def prompt_ids(loaded: LoadedModel, conversation: Sequence[dict]) -> list[int]:
    """Token ids of :func:`render_prompt` (the template carries its own special tokens)."""
    return loaded.tokenizer(render_prompt(loaded, conversation), add_special_tokens=False)["input_ids"]


def _check_conversation(conversation) -> None:
    if not isinstance(conversation, list | tuple) or not conversation:
        raise ValueError("conversation must be a non-empty list of {role, content} messages")
    for i, message in enumerate(conversation):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"conversation message {i} must be a dict with 'role' and 'content'")
        if not isinstance(message["content"], str):
            raise ValueError(f"conversation message {i}: 'content' must be a string")


def _check_params(n: int, temperature: float, top_p: float, max_new_tokens: int, batch_size: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


@contextlib.contextmanager
def seeded(seed: int | None):
    if seed is None:
        yield
        return
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def sampling_kwargs(loaded: LoadedModel, temperature: float, top_p: float, max_new_tokens: int, n: int) -> dict:
    kwargs = {
        "max_new_tokens": max_new_tokens,
        "num_return_sequences": n,
        "eos_token_id": list(loaded.eos_token_ids),
        "pad_token_id": loaded.tokenizer.pad_token_id,
        "use_cache": True,
    }
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kwargs


def outputs_from(loaded: LoadedModel, generated: torch.Tensor) -> list[GenerationOutput]:
    """Split generated ids (prompt removed) at the first stop token and decode."""
    stop = set(loaded.eos_token_ids)
    rows = generated.tolist()
    outputs = []
    for row in rows:
        cut = next((i for i, tid in enumerate(row) if tid in stop), None)
        finished = cut is not None
        content = row[:cut] if finished else row
        text = loaded.tokenizer.decode(content, skip_special_tokens=True).strip()
        outputs.append(GenerationOutput(text=text, n_tokens=len(content) + (1 if finished else 0), finished=finished))
    return outputs


@torch.inference_mode()
def _generate_ids(loaded: LoadedModel, batch_ids: list[list[int]], kwargs: dict) -> torch.Tensor:
    """Left-pad, run ``model.generate``, return only the new tokens ``[B*n, T]``."""
    pad = loaded.tokenizer.pad_token_id
    width = max(len(ids) for ids in batch_ids)
    input_ids = torch.full((len(batch_ids), width), pad, dtype=torch.long)
    attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    out = loaded.model.generate(
        input_ids=input_ids.to(loaded.device), attention_mask=attention.to(loaded.device), **kwargs
    )
    return out[:, width:].cpu()


def generate(loaded: LoadedModel, conversations: Sequence[Sequence[dict]], **options) -> list[list[GenerationOutput]]:
    """``n`` responses for each conversation, in input order.

    Takes the keyword options of :func:`generate_indexed` (``n``,
    ``temperature``, ``top_p``, ``max_new_tokens``, ``seed``, ``batch_size``,
    ``on_batch``). ``batch_size`` is the number of sequences sampled
    together, so each batch holds ``max(1, batch_size // n)`` prompts. After
    each batch ``on_batch(done_conversations, total)`` is called; if it
    returns ``False`` generation stops and the result covers only the
    conversations finished so far (``len(result) < len(conversations)``, in
    input order of the ones done — use :func:`generate_indexed` to know which).
    """
    done = generate_indexed(loaded, conversations, **options)
    return [done[i] for i in sorted(done)]


def generate_indexed(
    loaded: LoadedModel,
    conversations: Sequence[Sequence[dict]],
    *,
    n: int = 1,
    temperature: float = 0.7,
    top_p: float = 0.95,
    max_new_tokens: int = 128,
    seed: int | None = None,
    batch_size: int = 16,
    on_batch: OnBatch | None = None,
) -> dict[int, list[GenerationOutput]]:
    """Like :func:`generate` but returns ``{conversation index: outputs}`` (useful when cancelled)."""
    _check_params(n, temperature, top_p, max_new_tokens, batch_size)
    conversations = list(conversations)
    if not conversations:
        return {}
    if not loaded.is_local:
        return loaded.client.generate_indexed(
            conversations,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            seed=seed,
            on_batch=on_batch,
        )
    encoded = [prompt_ids(loaded, conv) for conv in conversations]
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    per_batch = max(1, batch_size // n)
    kwargs = sampling_kwargs(loaded, temperature, top_p, max_new_tokens, n)
    results: dict[int, list[GenerationOutput]] = {}
    for b, start in enumerate(range(0, len(order), per_batch)):
        idx = order[start : start + per_batch]
        with seeded(None if seed is None else seed + b):
            new_ids = _generate_ids(loaded, [encoded[i] for i in idx], kwargs)
        outs = outputs_from(loaded, new_ids)
        for j, i in enumerate(idx):
            results[i] = outs[j * n : (j + 1) * n]
        if on_batch is not None and on_batch(len(results), len(conversations)) is False:
            break
    return results


def generate_raw(
    loaded: LoadedModel,
    prefix: str | Sequence[int],
    *,
    n: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 128,
    seed: int | None = None,
    batch_size: int = 16,
    stop_token_ids: Sequence[int] | None = None,
    on_batch: OnBatch | None = None,
) -> list[GenerationOutput]:
    """``n`` continuations of a raw prefix (no chat template applied), e.g. Magpie.

    ``prefix`` is text (tokenised with ``add_special_tokens=False``, so write
    the special tokens yourself, e.g. ``"<|im_start|>user\\n"``) or token ids.
    Samples are drawn ``batch_size`` at a time from the one prefix; generation
    stops at the model's stop ids plus ``stop_token_ids``. ``on_batch(done,
    n)`` may return ``False`` to stop early (fewer than ``n`` outputs).
    """
    _check_params(n, temperature, top_p, max_new_tokens, batch_size)
    loaded.require_local("generate_raw")
    if isinstance(prefix, str):
        ids = loaded.tokenizer(prefix, add_special_tokens=False)["input_ids"]
    else:
        ids = [int(t) for t in prefix]
    if not ids:
        raise ValueError("prefix must not be empty")
    stops = list(loaded.eos_token_ids) + [int(t) for t in (stop_token_ids or []) if int(t) not in loaded.eos_token_ids]
    view = LoadedModel(**{**loaded.__dict__, "eos_token_ids": stops})
    outputs: list[GenerationOutput] = []
    for b, start in enumerate(range(0, n, batch_size)):
        count = min(batch_size, n - start)
        kwargs = sampling_kwargs(view, temperature, top_p, max_new_tokens, count)
        with seeded(None if seed is None else seed + b):
            new_ids = _generate_ids(view, [ids], kwargs)
        outputs.extend(outputs_from(view, new_ids))
        if on_batch is not None and on_batch(len(outputs), n) is False:
            break
    return outputs
