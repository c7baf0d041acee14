"""CHES encoding throughput: the cached, batched encoder against two baselines and against the machine.

Data (built in-process, no database) shaped like a real chat preference set:
``--pairs`` (2,300) pairs over about 1,800 prompts; 2 responses per prompt
for most, up to 4 (4 responses: one chosen against the three others); prompts
of 1–35 turns (most single-turn) whose chat-templated length has a median of
about 120 tokens and a long tail to 2,000; responses with a median of about
40 tokens, up to about 400. Seeded: every run sees the same set.

What is timed, on a sample of the set's prompts (``--sample`` pairs; the
whole set with ``--full``; ``--quick``: 8 pairs, the matmul measured briefly):

* ``cached``: ``encode_many``, the path the encode job runs (each prompt once,
  its KV cache shared by its responses, the prompts' common prefix once, the
  distinct responses of all prompts batched by length, the decoder without
  the LM head, ``torch.inference_mode``), then every pair's CHES as a dot
  product.
* ``fair`` baseline: each **distinct** response encoded once, one unbatched
  decoder pass over prompt + response (no shared prompt cache, no batching,
  no LM head), under ``torch.inference_mode``, then the same dot products.
  ``speedup`` = fair / cached: what batching and prompt sharing buy.
* ``per-pair`` reference: the paper's per-example script, two unbatched
  full-model passes with ``output_hidden_states`` per pair (a response in
  three pairs is encoded three times, the LM head computed).
  ``speedup_per_pair`` = per-pair / cached (the figure this bench printed
  before; ``--no-per-pair`` skips it, it is the slowest arm).

Against the machine: before the arms, the bench times a dense
``torch.matmul`` at the encoder's dtype (``encode_dtype``: bfloat16 products on a
CPU with native bfloat16, else the model's) with the same threads (``peak_gflops``,
the best of several runs of an n×n product). ``flop_share`` = the cached
arm's achieved model FLOP/s ÷ that peak, where the model FLOPs are the matrix
products the cached path needs for the real (unpadded) tokens it runs:
2 × (decoder linear weights) per token plus 4 × context × attention width
per token and layer; the embedding lookup and the (skipped) LM head count
nothing. ``projected_full_s`` is the time for the whole ``--pairs`` set by
one worker at the cached arm's measured tokens/s (the set's cached tokens ÷
the rate; the README states it and how it scales with workers).

Errors (all arms checked against the per-pair reference when it runs, else
against the fair baseline): ``max_rel_err`` is the largest, over pairs and
over CHES and LN-CHES, of ``|fast − ref| / max(|<S+,S->|, ||S+||²)``, i.e.
relative to the two terms CHES subtracts (a difference of two near-equal
terms of size ~1e5–1e7 carries ~1e-7 relative rounding from float32 sums).
The per-pair reference always runs the full model at its own dtype (float32
on a CPU); the cached and fair arms at the encoder's. With bfloat16 products
the error is ~1e-3 (``TOLERANCE``); the attention products stay float32 there,
yet all model FLOPs are held against the bfloat16 peak (the stricter reading).

    .venv/bin/python bench/ches.py            # 2,300-pair set, 300-pair sample, 3 runs
    .venv/bin/python bench/ches.py --quick    # 8 pairs, 1 run (< 60 s on a quiet 2-core machine)
    .venv/bin/python bench/ches.py --full --no-per-pair --runs 1   # the whole set
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from curation.llm.encode import (  # noqa: E402
    _decoder,
    default_batch_size,
    encode_dtype,
    encode_many,
    encode_reference,
    encoder,
)
from curation.llm.generate import prompt_ids  # noqa: E402
from curation.llm.runtime import get_model  # noqa: E402
from curation.metrics.ches import ches, ches_batch, ln_ches  # noqa: E402

WORDS = (
    "the", "a", "model", "answer", "question", "data", "result", "because", "however", "therefore", "simple", "example",
    "water", "light", "energy", "system", "people", "time", "number", "first", "second", "value", "method", "explain",
    "important", "different", "small", "large", "process", "function", "list", "step", "code", "python", "use", "make",
    "good", "better", "best", "value", "change", "work", "reason", "idea", "plan", "test", "city", "river",
    "history", "science", "music", "language", "memory", "network", "budget", "recipe", "garden", "travel", "health", "sleep",
)  # fmt: skip
# Largest max_rel_err accepted, by the encoder's dtype: float32 rounding; bfloat16 matrix products (float32
# residual stream, norms and attention) measured 1.3e-3 against the float32 path on a 24-pair sample.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-3}
TOKENS_PER_WORD = 1.3  # SmolLM2's tokenizer on these sentences, about


def _words(rng: random.Random, n_tokens: float) -> str:
    n = max(1, int(round(n_tokens / TOKENS_PER_WORD)))
    parts, used = [], 0
    while used < n:
        k = min(n - used, rng.randint(4, 18))
        words = [rng.choice(WORDS) for _ in range(k)]
        text = " ".join(words)
        parts.append(text[0].upper() + text[1:] + rng.choice([".", ".", ".", "?", "!"]))
        used += k
    return " ".join(parts)


def _lognormal(rng: random.Random, median: float, sigma: float, low: float, high: float) -> float:
    return min(high, max(low, median * float(np.exp(rng.gauss(0.0, sigma)))))


def build(n_pairs: int, *, seed: int = 0):
    """``(prompts, pairs)``: prompts = [(conversation, [responses])], pairs = [(prompt_index, chosen, rejected)]."""
    rng = random.Random(seed)
    prompts, pairs = [], []
    while len(pairs) < n_pairs:
        p = len(prompts)
        tokens = _lognormal(rng, 105, 0.9, 8, 1950)  # + the template's ~15 tokens: median ~120 in all
        turns = 1 if rng.random() < 0.6 else min(35, 1 + int(rng.expovariate(1 / 4)) * 2)
        turns = max(1, min(turns, int(tokens // 12) or 1))
        if turns % 2 == 0:
            turns -= 1  # user, assistant, ..., user
        share = tokens / turns
        conversation = [
            {"role": "user" if t % 2 == 0 else "assistant", "content": _words(rng, share)} for t in range(turns)
        ]
        k = rng.choices((2, 3, 4), weights=(0.8, 0.1, 0.1))[0]
        responses = [_words(rng, _lognormal(rng, 38, 0.8, 1, 400)) for _ in range(k)]
        prompts.append((conversation, responses))
        for j in range(1, k):  # response 0 is chosen against each other one
            if len(pairs) < n_pairs:
                pairs.append((p, 0, j) if rng.random() < 0.5 else (p, j, 0))
    return prompts, pairs


def subset(prompts, pairs, n_pairs: int, seed: int = 1):
    """A random sample of whole prompts holding about ``n_pairs`` pairs, re-indexed."""
    by_prompt: dict[int, list] = {}
    for pr in pairs:
        by_prompt.setdefault(pr[0], []).append(pr)
    order = list(by_prompt)
    random.Random(seed).shuffle(order)
    chosen, count = [], 0
    for p in order:
        if count >= n_pairs:
            break
        chosen.append(p)
        count += len(by_prompt[p])
    chosen.sort()
    index = {p: i for i, p in enumerate(chosen)}
    return [prompts[p] for p in chosen], [(index[p], c, r) for p in chosen for (_p, c, r) in by_prompt[p]]


# ---------------------------------------------------------------- FLOPs


def linear_params(loaded) -> int:
    """Weights of the decoder's linear layers (what each token multiplies through)."""
    return sum(m.weight.numel() for m in _decoder(loaded.model).modules() if isinstance(m, torch.nn.Linear))


def cached_flops(loaded, prompts) -> tuple[float, int]:
    """``(model FLOPs, tokens)`` of what ``encode_many`` runs for ``prompts`` (real tokens only)."""
    config = loaded.model.config
    width = config.num_attention_heads * getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    per_token = 2 * linear_params(loaded)
    attention = 4 * width * config.num_hidden_layers  # QK^T and AV per token and per context position
    flops, tokens = 0.0, 0
    ids = [(prompt_ids(loaded, conv), [loaded.tokenizer(r, add_special_tokens=False)["input_ids"] for r in resp])
           for conv, resp in prompts]  # fmt: skip
    for prompt, responses in ids:
        p = len(prompt)
        flops += p * per_token + attention * p * (p + 1) / 2
        tokens += p
        for r in {tuple(x) for x in responses}:
            n = len(r)  # fed: the response's tokens (not the end-of-turn)
            flops += n * per_token + attention * (n * p + n * (n + 1) / 2)
            tokens += n
    return flops, tokens


def measure_peak(dtype, device: str, *, seconds: float) -> float:
    """GFLOP/s of a dense n×n matmul at ``dtype`` (best of several repetitions, after a warm-up)."""
    n = 1024 if device == "cpu" else 8192
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    best = 0.0
    with torch.inference_mode():
        torch.matmul(a, b)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if device != "cpu":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(3):
                torch.matmul(a, b)
            if device != "cpu":
                torch.cuda.synchronize()
            best = max(best, 3 * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


# ---------------------------------------------------------------- arms


def _pairs_ches(vectors, pairs):
    sp = np.stack([vectors[p][c][0] for p, c, _r in pairs])
    sn = np.stack([vectors[p][r][0] for p, _c, r in pairs])
    lp = np.array([vectors[p][c][1] for p, c, _r in pairs])
    ln = np.array([vectors[p][r][1] for p, _c, r in pairs])
    c, lc = ches_batch(sp, sn, lp, ln)
    return np.stack([c, lc], axis=1)


def run_cached(loaded, prompts, pairs, batch_size):
    encoded = encode_many(loaded, prompts, batch_size=batch_size)
    return _pairs_ches(encoded, pairs), encoded


@torch.inference_mode()
def encode_unbatched(loaded, conversation, responses):
    """Each distinct response once: one decoder pass over prompt + response, no cache, no batch, no LM head
    (the encoder's decoder, at its dtype: ``encode_dtype``)."""
    decoder = encoder(loaded)
    prompt = prompt_ids(loaded, conversation)
    seen: dict[tuple[int, ...], tuple[np.ndarray, int]] = {}
    out = []
    for text in responses:
        ids = tuple(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
        if ids not in seen:
            x = torch.tensor([prompt + list(ids)], device=loaded.device)
            h = decoder(input_ids=x).last_hidden_state[0]
            segment = h[len(prompt) - 1 :].float()
            seen[ids] = (segment.sum(0).cpu().numpy().astype(np.float32), len(ids) + 1)
        out.append(seen[ids])
    return out


def run_fair(loaded, prompts, pairs):
    encoded = [encode_unbatched(loaded, conv, resp) for conv, resp in prompts]
    return _pairs_ches(encoded, pairs), encoded


def run_per_pair(loaded, prompts, pairs):
    out, sums = [], []
    for p, c, r in pairs:
        conversation, responses = prompts[p]
        (sp, np_), (sn, nn) = encode_reference(loaded, conversation, [responses[c], responses[r]])
        out.append((ches(sp, sn), ln_ches(sp, np_, sn, nn)))
        sums.append((sp, sn, np_, nn))
    return np.array(out), sums


def errors(fast, ref, ref_vectors, pairs) -> float:
    """Largest error relative to the two terms CHES subtracts (see the docstring)."""
    worst = 0.0
    for row, (p, c, r) in enumerate(pairs):
        (sp, lp), (sn, ln) = ref_vectors[p][c], ref_vectors[p][r]
        sp64, sn64 = sp.astype(np.float64), sn.astype(np.float64)
        cross, self_sq = float(sp64 @ sn64), float(sp64 @ sp64)
        scales = (max(abs(cross), self_sq), max(abs(cross) / (lp * ln), self_sq / lp**2))
        for col in (0, 1):
            worst = max(worst, abs(fast[row, col] - ref[row, col]) / scales[col])
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 pairs, 1 run, short matmul measurement (< 60 s)")
    parser.add_argument("--pairs", type=int, default=2300, help="pairs in the data set (2,300)")
    parser.add_argument("--sample", type=int, default=None, help="pairs timed (300; --quick 8)")
    parser.add_argument("--full", action="store_true", help="time the whole set (slow)")
    parser.add_argument("--runs", type=int, default=None, help="runs to take the median of (3; --quick 1)")
    parser.add_argument("--no-per-pair", action="store_true", help="skip the per-pair reference (the slowest arm)")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per forward pass (default: the job's)")
    parser.add_argument("--model", default=None, help="model reference (default: the default model)")
    args = parser.parse_args()
    sample = args.sample or (8 if args.quick else 300)
    runs = args.runs or (1 if args.quick else 3)

    started = time.perf_counter()
    loaded = get_model(args.model)
    load_s = time.perf_counter() - started
    dtype = encode_dtype(loaded)
    args.batch_size = args.batch_size or default_batch_size(loaded)
    peak = measure_peak(dtype, str(loaded.device).split(":")[0], seconds=1.0 if args.quick else 4.0)
    full_prompts, full_pairs = build(args.pairs)
    prompts, pairs = (full_prompts, full_pairs) if args.full else subset(full_prompts, full_pairs, sample)
    flops, tokens = cached_flops(loaded, prompts)
    full_flops, full_tokens = cached_flops(loaded, full_prompts) if not args.full else (flops, tokens)
    lengths = [len(prompt_ids(loaded, c)) for c, _r in full_prompts[:400]]
    r_lengths = [len(loaded.tokenizer(x)["input_ids"]) for _c, rs in full_prompts[:400] for x in rs]
    print(
        f"model {loaded.name} on {loaded.device} ({dtype}), {torch.get_num_threads()} thread(s), "
        f"batch size {args.batch_size}; load {load_s:.1f} s; dense matmul peak {peak:.1f} GFLOP/s"
    )
    print(
        f"set: {len(full_pairs)} pairs over {len(full_prompts)} prompts; prompt tokens median "
        f"{statistics.median(lengths):.0f} (max {max(lengths)}), response tokens median "
        f"{statistics.median(r_lengths):.0f} (max {max(r_lengths)}) [first 400 prompts]; "
        f"timed: {len(pairs)} pairs over {len(prompts)} prompts, {tokens} tokens; load avg {os.getloadavg()}"
    )
    run_cached(loaded, prompts[:2], [pr for pr in pairs if pr[0] < 2], args.batch_size)  # warm-up

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    times: dict[str, list[float]] = {"cached": [], "fair": [], "per_pair": []}
    worst = 0.0
    try:
        for run in range(runs):
            t0 = time.perf_counter()
            fast, _encoded = run_cached(loaded, prompts, pairs, args.batch_size)
            t1 = time.perf_counter()
            fair, fair_vectors = run_fair(loaded, prompts, pairs)
            t2 = time.perf_counter()
            times["cached"].append(t1 - t0)
            times["fair"].append(t2 - t1)
            worst = max(worst, errors(fast, fair, fair_vectors, pairs))
            line = f"run {run + 1}: cached {t1 - t0:.2f} s, fair {t2 - t1:.2f} s ({(t2 - t1) / (t1 - t0):.2f}x)"
            if not args.no_per_pair:
                ref, _sums = run_per_pair(loaded, prompts, pairs)
                t3 = time.perf_counter()
                times["per_pair"].append(t3 - t2)
                worst = max(worst, errors(fast, ref, fair_vectors, pairs), errors(fair, ref, fair_vectors, pairs))
                line += f", per-pair {t3 - t2:.2f} s ({(t3 - t2) / (t1 - t0):.2f}x)"
            print(f"{line}; max_rel_err {worst:.2e}; load avg {os.getloadavg()[0]:.2f}", flush=True)
    except KeyboardInterrupt:
        if not times["fair"]:
            sys.exit("interrupted before the first run completed")
        print(f"interrupted: {len(times['fair'])} of {runs} run(s) completed")
    n = len(times["fair"])
    cached_s, fair_s = statistics.median(times["cached"][:n]), statistics.median(times["fair"])
    gflops = flops / cached_s / 1e9
    projected = full_tokens / (tokens / cached_s)
    per_pair = f"{statistics.median(times['per_pair']) / cached_s:.2f}" if times["per_pair"] else "nan"
    print(
        f"cached {cached_s:.2f} s = {tokens / cached_s:.0f} tokens/s, {gflops:.1f} model GFLOP/s "
        f"({flops / 1e9:.1f} GFLOP); full set: {full_tokens} tokens, {full_flops / 1e12:.2f} TFLOP "
        f"-> {projected / 60:.1f} min by one worker, about that / N with N workers"
    )
    load = os.getloadavg()
    print(
        f"RESULT speedup={fair_s / cached_s:.2f} speedup_per_pair={per_pair} flop_share={gflops / peak:.2f} "
        f"model_gflops={gflops:.1f} peak_gflops={peak:.1f} pairs_per_s={len(pairs) / cached_s:.1f} "
        f"projected_full_s={projected:.0f} full_pairs={len(full_pairs)} pairs={len(pairs)} "
        f"max_rel_err={worst:.2e} dtype={str(dtype).removeprefix('torch.')} threads={torch.get_num_threads()} "
        f"runs={n} load1={load[0]:.2f}"
    )
    tolerance = TOLERANCE.get(dtype, 1e-4)
    if worst > tolerance:
        sys.exit(f"max_rel_err {worst:.2e} exceeds {tolerance:.0e} ({dtype})")


if __name__ == "__main__":
    main()
