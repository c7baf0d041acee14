"""CHES for N preference pairs: the cached, batched encoder vs a per-pair reference.

Data (built in-process, no database): synthetic prompts and responses of
varied, realistic lengths (user messages of 8–60 words, responses of 5–220
words, roughly log-uniform), K = 4 responses per prompt, and every pair of a
prompt's responses as a (chosen, rejected) pair in a seeded random
orientation — the pairs an audit scores for a 4-way ranking, or for
``pair_rule='all'`` — until there are N pairs (500 by default, 84 prompts).

* reference: per pair, two separate unbatched forward passes of the full
  model with ``output_hidden_states`` (prompt + chosen, prompt + rejected;
  ``encode_reference``, the paper's per-example script), then CHES and
  length-normalised CHES of the two sums.
* cached: ``encode_many`` over all the prompts (each prompt once, its KV
  cache shared by its responses, the prompts' common prefix once; each
  distinct response once, the responses of all prompts batched by length,
  4 rows per pass on CPU), then every pair is a dot product (``ches_batch``).

Both timings cover tokenisation, forward passes and the CHES arithmetic;
the model is loaded before either starts. ``speedup`` = reference seconds /
cached seconds; ``pairs_per_s`` is the cached encoder's rate. Median of
``--runs`` runs (the errors are the worst over all runs); Ctrl-C or SIGTERM
stops early and prints the figures of the runs completed (``runs=`` says how
many).

Errors. ``max_rel_err`` is the largest, over pairs and over CHES and
LN-CHES, of ``|fast − ref| / max(|<S+,S->|, ||S+||²)`` (LN-CHES: the same
with each term length-normalised), i.e. relative to the magnitude of the two
terms CHES subtracts. Plain ``|fast − ref| / |ref|`` is not a fair measure:
CHES is a difference of two nearly equal terms of size ~1e5–1e7 here, and
float32 sums of hundreds of vectors carry ~1e-7 relative rounding per term,
so a pair whose CHES is close to 0 shows a large plain relative error from
rounding alone. The plain figure (``max_plain_rel_err``) and the worst
relative difference of the summed vectors themselves (``max_vec_rel_err``)
are printed too.

    .venv/bin/python bench/ches.py            # 500 pairs, 3 runs
    .venv/bin/python bench/ches.py --quick    # 24 pairs, 1 run (< 60 s)
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

from curation.llm.encode import default_batch_size, encode_many, encode_reference  # noqa: E402
from curation.llm.runtime import get_model  # noqa: E402
from curation.metrics.ches import ches, ches_batch, ln_ches  # noqa: E402

WORDS = (
    "the", "a", "model", "answer", "question", "data", "result", "because", "however", "therefore", "simple", "example",
    "water", "light", "energy", "system", "people", "time", "number", "first", "second", "value", "method", "explain",
    "important", "different", "small", "large", "process", "function", "list", "step", "code", "python", "use", "make",
    "good", "better", "best", "value", "change", "work", "reason", "idea", "plan", "test", "city", "river",
    "history", "science", "music", "language", "memory", "network", "budget", "recipe", "garden", "travel", "health", "sleep",
)  # fmt: skip


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "?", "!"])


def _text(rng: random.Random, low: int, high: int) -> str:
    """About log-uniform(low, high) words in sentences, sometimes a list or code block."""
    total = int(round(np.exp(rng.uniform(np.log(low), np.log(high)))))
    parts, used = [], 0
    while used < total:
        n = min(total - used, rng.randint(4, 18))
        parts.append(_sentence(rng, n))
        used += n
    text = " ".join(parts)
    if total > 40 and rng.random() < 0.3:
        text += "\n\n" + "\n".join(f"- {_sentence(rng, rng.randint(3, 8))}" for _ in range(rng.randint(2, 4)))
    if total > 60 and rng.random() < 0.2:
        text += f"\n\n```python\nprint({rng.randint(0, 99)} * {rng.randint(0, 99)})\n```"
    return text


def build(n_pairs: int, *, k: int = 4, seed: int = 0):
    """``(prompts, pairs)``: prompts = [(conversation, [responses])], pairs = [(prompt_index, chosen, rejected)]."""
    rng = random.Random(seed)
    prompts, pairs = [], []
    while len(pairs) < n_pairs:
        p = len(prompts)
        conversation = [{"role": "user", "content": _text(rng, 8, 60)}]
        responses = [_text(rng, 5, 220) for _ in range(k)]
        prompts.append((conversation, responses))
        for i in range(k):
            for j in range(i + 1, k):
                if len(pairs) < n_pairs:
                    pairs.append((p, i, j) if rng.random() < 0.5 else (p, j, i))
    return prompts, pairs


def run_reference(loaded, prompts, pairs):
    out, sums = [], []
    for p, c, r in pairs:
        conversation, responses = prompts[p]
        (sp, np_), (sn, nn) = encode_reference(loaded, conversation, [responses[c], responses[r]])
        out.append((ches(sp, sn), ln_ches(sp, np_, sn, nn)))
        sums.append((sp, sn, np_, nn))
    return np.array(out), sums


def run_cached(loaded, prompts, pairs, batch_size):
    encoded = encode_many(loaded, prompts, batch_size=batch_size)
    sp = np.stack([encoded[p][c][0] for p, c, _r in pairs])
    sn = np.stack([encoded[p][r][0] for p, _c, r in pairs])
    lp = np.array([encoded[p][c][1] for p, c, _r in pairs])
    ln = np.array([encoded[p][r][1] for p, _c, r in pairs])
    c, lc = ches_batch(sp, sn, lp, ln)
    return np.stack([c, lc], axis=1), encoded


def errors(fast, ref, ref_sums, encoded, pairs):
    term_err, plain_err, vec_err = 0.0, 0.0, 0.0
    for row, ((sp, sn, lp, ln), (p, c, r)) in enumerate(zip(ref_sums, pairs, strict=True)):
        sp64, sn64 = sp.astype(np.float64), sn.astype(np.float64)
        cross, self_sq = float(sp64 @ sn64), float(sp64 @ sp64)
        scales = (max(abs(cross), self_sq), max(abs(cross) / (lp * ln), self_sq / lp**2))
        for col in (0, 1):
            diff = abs(fast[row, col] - ref[row, col])
            term_err = max(term_err, diff / scales[col])
            plain_err = max(plain_err, diff / max(abs(ref[row, col]), 1e-30))
        for mine, theirs in ((encoded[p][c][0], sp), (encoded[p][r][0], sn)):
            vec_err = max(vec_err, float(np.linalg.norm(mine - theirs) / np.linalg.norm(theirs)))
        assert (encoded[p][c][1], encoded[p][r][1]) == (lp, ln), "token counts differ"
    return term_err, plain_err, vec_err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="24 pairs, 1 run")
    parser.add_argument("--pairs", type=int, default=None, help="number of pairs (500)")
    parser.add_argument("--runs", type=int, default=None, help="runs to take the median of (3)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="rows per forward pass (default: 4 on CPU, 8 on a GPU)"
    )
    parser.add_argument("--model", default=None, help="model reference (default: the default model)")
    args = parser.parse_args()
    n_pairs = args.pairs or (24 if args.quick else 500)
    runs = args.runs or (1 if args.quick else 3)

    started = time.perf_counter()
    loaded = get_model(args.model)
    prompts, pairs = build(n_pairs)
    args.batch_size = args.batch_size or default_batch_size(loaded)
    n_responses = sum(len(r) for _c, r in prompts)
    print(
        f"model {loaded.name} on {loaded.device}, {torch.get_num_threads()} thread(s), batch size {args.batch_size}; "
        f"load {time.perf_counter() - started:.1f} s"
    )
    print(
        f"{len(pairs)} pairs over {len(prompts)} prompts, {n_responses} distinct responses; load avg {os.getloadavg()}"
    )
    # warm-up (first calls allocate)
    run_cached(loaded, prompts[:1], [pr for pr in pairs if pr[0] == 0], args.batch_size)

    # SIGTERM (like Ctrl-C) ends the runs early; the figures of the completed runs are still printed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ref_times, fast_times, worst = [], [], (0.0, 0.0, 0.0)
    try:
        for run in range(runs):
            t0 = time.perf_counter()
            ref, ref_sums = run_reference(loaded, prompts, pairs)
            t1 = time.perf_counter()
            fast, encoded = run_cached(loaded, prompts, pairs, args.batch_size)
            t2 = time.perf_counter()
            errs = errors(fast, ref, ref_sums, encoded, pairs)
            ref_times.append(t1 - t0)
            fast_times.append(t2 - t1)
            worst = tuple(max(a, b) for a, b in zip(worst, errs, strict=True))
            print(
                f"run {run + 1}: reference {t1 - t0:.2f} s ({len(pairs) / (t1 - t0):.1f} pairs/s), "
                f"cached {t2 - t1:.2f} s ({len(pairs) / (t2 - t1):.1f} pairs/s), "
                f"speedup {(t1 - t0) / (t2 - t1):.2f}, max_rel_err {errs[0]:.2e}; load avg {os.getloadavg()[0]:.2f}"
            )
    except KeyboardInterrupt:
        if not ref_times:
            sys.exit("interrupted before the first run completed")
        print(f"interrupted: {len(ref_times)} of {runs} run(s) completed")
    ref_s, fast_s = statistics.median(ref_times), statistics.median(fast_times)
    term_err, plain_err, vec_err = worst
    print(f"median reference {ref_s:.2f} s, cached {fast_s:.2f} s")
    print(f"max_plain_rel_err={plain_err:.2e} max_vec_rel_err={vec_err:.2e}")
    print(
        f"RESULT speedup={ref_s / fast_s:.2f} pairs_per_s={len(pairs) / fast_s:.1f} "
        f"ref_pairs_per_s={len(pairs) / ref_s:.1f} max_rel_err={term_err:.2e} pairs={len(pairs)} runs={len(ref_times)}"
    )
    if term_err > 1e-4:
        sys.exit(f"max_rel_err {term_err:.2e} exceeds 1e-4")


if __name__ == "__main__":
    main()
