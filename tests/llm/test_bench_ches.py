"""bench/ches.py's data and arms: chat-shaped data as issue 18 asks, the fair baseline equal to the
per-example reference, the FLOP count's arithmetic; bench/gpu.sh is valid bash naming existing benches."""

from __future__ import annotations

import re
import statistics
import subprocess
from pathlib import Path

import pytest
import torch

from bench import ches as bench

ROOT = Path(__file__).resolve().parents[2]


def test_data_is_shaped_like_a_chat_preference_set():
    prompts, pairs = bench.build(2300)
    assert len(pairs) == 2300 and 1500 < len(prompts) < 2100
    assert all(2 <= len(responses) <= 4 for _c, responses in prompts)
    turns = [len(conversation) for conversation, _r in prompts]
    assert min(turns) == 1 and max(turns) <= 35 and statistics.median(turns) == 1 and max(turns) >= 9
    assert all(c[-1]["role"] == "user" for c, _r in prompts)
    words = [sum(len(m["content"].split()) for m in c) for c, _r in prompts]
    assert 60 < statistics.median(words) < 110 and max(words) <= 2000 / bench.TOKENS_PER_WORD + 40
    answers = [len(r.split()) for _c, rs in prompts for r in rs]
    assert 20 < statistics.median(answers) < 40 and max(answers) <= 400 / bench.TOKENS_PER_WORD + 20
    assert all(c != r and {c, r} <= set(range(len(prompts[p][1]))) for p, c, r in pairs)
    assert bench.build(2300) == (prompts, pairs)  # seeded
    sample, sampled_pairs = bench.subset(prompts, pairs, 300)
    assert 300 <= len(sampled_pairs) < 304 and all(p < len(sample) for p, _c, _r in sampled_pairs)


def test_gpu_script_is_valid_bash_and_runs_the_three_benches():
    script = (ROOT / "bench" / "gpu.sh").read_text()
    subprocess.run(["bash", "-n", str(ROOT / "bench" / "gpu.sh")], check=True)
    names = re.findall(r"bench/(\w+)\.py", script)
    assert {"ches", "generate", "judge"} <= set(names)
    assert all((ROOT / "bench" / f"{n}.py").is_file() for n in names)
    # limits of the three runs stay under 8 minutes together
    assert sum(int(x) for x in re.findall(r"^run \w+ (\d+) ", script, flags=re.M)) < 480


@pytest.mark.slow
def test_fair_baseline_equals_the_reference_and_flops_count_real_tokens(llm):
    prompts, pairs = bench.build(6, seed=3)
    dtype = bench.encode_dtype(llm)  # the fair and cached arms run the encoder at its dtype, the reference float32
    fair, vectors = bench.run_fair(llm, prompts, pairs)
    reference, _sums = bench.run_per_pair(llm, prompts, pairs)
    assert bench.errors(fair, reference, vectors, pairs) < (1e-5 if dtype == torch.float32 else bench.TOLERANCE[dtype])
    cached, _encoded = bench.run_cached(llm, prompts, pairs, 4)
    assert bench.errors(cached, reference, vectors, pairs) < bench.TOLERANCE[dtype]
    assert bench.errors(cached, fair, vectors, pairs) < bench.TOLERANCE[dtype]
    flops, tokens = bench.cached_flops(llm, prompts[:1])
    conversation, responses = prompts[0]
    p = len(bench.prompt_ids(llm, conversation))
    lengths = {tuple(llm.tokenizer(r, add_special_tokens=False)["input_ids"]) for r in responses}
    assert tokens == p + sum(len(x) for x in lengths)
    assert flops > 2 * bench.linear_params(llm) * tokens
    assert 0 < bench.measure_peak(dtype, "cpu", seconds=0.2) < float("inf")
