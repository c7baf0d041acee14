"""The algorithmic judge: pairwise items per second and its position consistency.

Each item is judged as the judge job does (``curation.judging.runner._pair_both_orders``:
the question in both presentation orders and once with content-free answers,
next-token label probabilities, calibration). The items are arithmetic and
capital-city questions with one right and one wrong answer (seeded), so the
bench also reports how often the judge prefers the same answer in both orders
(``consistency``) and how often that answer is the right one (``accuracy``,
over the consistent items): the calibration card's two figures on known
answers. No database is touched.

    .venv/bin/python bench/judge.py            # 48 items
    .venv/bin/python bench/judge.py --quick    # 8 items (< 60 s)
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import django_setup  # noqa: E402

CAPITALS = [("France", "Paris", "Lyon"), ("Japan", "Tokyo", "Osaka"), ("Italy", "Rome", "Milan"),
            ("Spain", "Madrid", "Seville"), ("Canada", "Ottawa", "Toronto"), ("Australia", "Canberra", "Sydney"),
            ("Germany", "Berlin", "Munich"), ("Brazil", "Brasília", "Rio de Janeiro")]  # fmt: skip


def items(n: int, seed: int = 0) -> list[tuple[list[dict], str, str]]:
    """``(conversation, right answer, wrong answer)``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            country, right, wrong = rng.choice(CAPITALS)
            question = f"What is the capital of {country}?"
            right, wrong = f"The capital of {country} is {right}.", f"The capital of {country} is {wrong}."
        else:
            a, b = rng.randint(2, 40), rng.randint(2, 40)
            question = f"What is {a} + {b}?"
            right, wrong = f"{a} + {b} = {a + b}.", f"{a} + {b} = {a + b + rng.choice([-3, -1, 1, 2, 10])}."
        out.append(([{"role": "user", "content": question}], right, wrong))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 items")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    n = 8 if args.quick else args.n
    django_setup()
    import torch

    from curation.judging.runner import _pair_both_orders
    from curation.llm.runtime import get_model

    t0 = time.perf_counter()
    loaded = get_model(args.model)
    print(
        f"model {loaded.name} on {loaded.device}, {torch.get_num_threads()} thread(s); load {time.perf_counter() - t0:.1f} s"
    )
    data = items(n)
    _pair_both_orders(loaded, data[0][0], data[0][1], data[0][2])  # warm-up
    consistent = right = 0
    start = time.perf_counter()
    for i, (conversation, good, bad) in enumerate(data):
        a, b, good_is = (good, bad, "A") if i % 2 == 0 else (bad, good, "B")  # the right answer in both positions
        result = _pair_both_orders(loaded, conversation, a, b)
        if result["consistent"]:
            consistent += 1
            right += result["winner"] == good_is
    elapsed = time.perf_counter() - start
    load = os.getloadavg()
    print(f"{n} items in {elapsed:.1f} s; {consistent} consistent, {right} of them right; load {load[0]:.2f}")
    print(
        f"RESULT items_per_s={n / elapsed:.2f} s_per_item={elapsed / n:.2f} consistency={consistent / n:.2f} "
        f"accuracy={(right / consistent) if consistent else float('nan'):.2f} n={n} device={loaded.device} "
        f"threads={torch.get_num_threads()} load1={load[0]:.2f}"
    )


if __name__ == "__main__":
    main()
