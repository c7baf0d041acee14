"""Batched generation vs a one-prompt-at-a-time ``model.generate`` loop.

Same prompts, same sampling parameters (temperature 0.7, top_p 0.95, seed),
same stop tokens. tokens/s counts generated tokens (end-of-turn included).
Reports the median over ``--runs``.

    .venv/bin/python bench/generate.py            # 32 prompts x 64 tokens, 3 runs
    .venv/bin/python bench/generate.py --quick    # 8 prompts x 32 tokens, 1 run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from curation.llm.generate import generate, outputs_from, prompt_ids, sampling_kwargs  # noqa: E402
from curation.llm.runtime import get_model  # noqa: E402

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about autumn leaves.",
    "Explain photosynthesis in one sentence.",
    "Give me three tips for better sleep.",
    "What is 12 times 7?",
    "Translate 'good morning' into Spanish.",
    "Name a famous painting by Leonardo da Vinci.",
    "Why is the sky blue?",
    "Suggest a name for a pet turtle.",
    "Summarise the plot of Cinderella in two sentences.",
    "What does a CPU do?",
    "List four fruits that are red.",
    "How do I boil an egg?",
    "Write a short apology for missing a meeting.",
    "What is the boiling point of water in Fahrenheit?",
    "Describe a cat to someone who has never seen one.",
    "Give an example of a prime number greater than 50.",
    "What is the difference between weather and climate?",
    "Write a two-line poem about coffee.",
    "How many continents are there?",
    "Recommend a book for a ten-year-old.",
    "What is gravity?",
    "Give me a synonym for 'happy'.",
    "How can I save money on groceries?",
    "What language is spoken in Brazil?",
    "Explain what a noun is.",
    "Write a tweet announcing a bake sale.",
    "What causes rain?",
    "Name three planets in our solar system.",
    "How do you say thank you in Japanese?",
    "What is the square root of 81?",
    "Give one reason to learn a second language.",
]


def run_batched(loaded, convs, max_new, seed, batch_size) -> tuple[int, float]:
    start = time.perf_counter()
    out = generate(
        loaded, convs, n=1, temperature=0.7, top_p=0.95, max_new_tokens=max_new, seed=seed, batch_size=batch_size
    )
    elapsed = time.perf_counter() - start
    return sum(o.n_tokens for outs in out for o in outs), elapsed


@torch.inference_mode()
def run_loop(loaded, convs, max_new, seed) -> tuple[int, float]:
    kwargs = sampling_kwargs(loaded, 0.7, 0.95, max_new, 1)
    start = time.perf_counter()
    tokens = 0
    torch.manual_seed(seed)
    for conv in convs:
        ids = torch.tensor([prompt_ids(loaded, conv)])
        out = loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        tokens += sum(o.n_tokens for o in outputs_from(loaded, out[:, ids.shape[1] :]))
    return tokens, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 prompts x 32 tokens, 1 run")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.max_new_tokens, args.runs = 8, 32, 1
    t0 = time.perf_counter()
    loaded = get_model(args.model)
    print(f"model {loaded.name} loaded in {time.perf_counter() - t0:.2f}s; torch threads {torch.get_num_threads()}")
    convs = [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(args.prompts)]
    run_batched(loaded, convs[:2], 4, args.seed, args.batch_size)  # warm-up
    b_rates, l_rates = [], []
    for r in range(args.runs):
        tok, sec = run_batched(loaded, convs, args.max_new_tokens, args.seed + r, args.batch_size)
        b_rates.append(tok / sec)
        print(f"run {r}: batched {tok} tokens in {sec:.2f}s = {tok / sec:.1f} tok/s", flush=True)
        tok, sec = run_loop(loaded, convs, args.max_new_tokens, args.seed + r)
        l_rates.append(tok / sec)
        print(f"run {r}: loop    {tok} tokens in {sec:.2f}s = {tok / sec:.1f} tok/s", flush=True)
    b, lo = statistics.median(b_rates), statistics.median(l_rates)
    print(f"RESULT speedup={b / lo:.2f} batched_tok_s={b:.1f} loop_tok_s={lo:.1f}")


if __name__ == "__main__":
    main()
