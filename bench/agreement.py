"""Krippendorff's α at scale: our implementation vs the ``krippendorff`` package.

    .venv/bin/python bench/agreement.py [--quick] [--runs 5] [--items 100000] [--raters 10]

Data: ``--items`` units × ``--raters`` annotators (default 100,000 × 10 = 1,000,000
annotations), 20 % missing at random, 3 nominal categories coded 0/1/2, with an
annotator-noise model so α is neither 0 nor 1. For each level (nominal, then interval) both
implementations run ``--runs`` times, alternating which goes first; we report the median
wall time, the speedup (reference / ours) and |α_ours − α_reference|.

``--quick``: 10,000 items, 3 runs. The ``krippendorff`` package is GPL-3 and imported here
(bench only), never by ``curation/``. Final line:
``RESULT speedup=… ours_s=… reference_s=… abs_diff=…`` (nominal level, the headline case),
plus the interval figures under their own keys.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from curation.metrics.agreement import krippendorff_alpha  # noqa: E402


def make_data(items: int, raters: int, missing: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, size=items)
    skill = rng.uniform(0.5, 0.95, size=raters)
    correct = rng.random((raters, items)) < skill[:, None]
    noise = rng.integers(0, 3, size=(raters, items))
    data = np.where(correct, truth[None, :], noise).astype(np.float64)
    data[rng.random(data.shape) < missing] = np.nan
    return data


def timed(fn) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, float(value)


def compare(data: np.ndarray, level: str, runs: int) -> dict[str, float]:
    import krippendorff  # GPL-3: benchmark reference only

    ours_t: list[float] = []
    ref_t: list[float] = []
    ours_v = ref_v = float("nan")

    def ours():
        return krippendorff_alpha(data, level)

    def reference():
        return krippendorff.alpha(reliability_data=data, level_of_measurement=level)

    ours()  # warm-up (imports, page faults) for both, not timed
    reference()
    for run in range(runs):
        order = [(ours, ours_t), (reference, ref_t)]
        if run % 2:
            order.reverse()
        for fn, sink in order:
            elapsed, value = timed(fn)
            sink.append(elapsed)
            if fn is ours:
                ours_v = value
            else:
                ref_v = value
    ours_s = statistics.median(ours_t)
    ref_s = statistics.median(ref_t)
    return {
        "ours_s": ours_s,
        "reference_s": ref_s,
        "speedup": ref_s / ours_s,
        "abs_diff": abs(ours_v - ref_v),
        "alpha": ours_v,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 items and 3 runs")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--raters", type=int, default=10)
    parser.add_argument("--missing", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    items = args.items or (10_000 if args.quick else 100_000)
    runs = args.runs or (3 if args.quick else 5)

    data = make_data(items, args.raters, args.missing, args.seed)
    n_annotations = int((~np.isnan(data)).sum())
    print(
        f"{items:,} items × {args.raters} annotators, {args.missing:.0%} missing -> "
        f"{n_annotations:,} annotations ({data.size:,} cells); median of {runs} runs"
    )
    results = {}
    for level in ("nominal", "interval"):
        r = compare(data, level, runs)
        results[level] = r
        print(
            f"{level:>8}: alpha={r['alpha']:.6f}  ours {r['ours_s'] * 1000:8.1f} ms  "
            f"krippendorff {r['reference_s'] * 1000:8.1f} ms  speedup {r['speedup']:.2f}x  "
            f"|diff| {r['abs_diff']:.2e}"
        )
    ok = all(r["abs_diff"] <= 1e-9 for r in results.values())
    if not ok:
        print("MISMATCH: |alpha_ours - alpha_reference| > 1e-9")
    nom, itv = results["nominal"], results["interval"]
    print(
        f"RESULT speedup={nom['speedup']:.2f} ours_s={nom['ours_s']:.4f} reference_s={nom['reference_s']:.4f} "
        f"abs_diff={nom['abs_diff']:.2e} interval_speedup={itv['speedup']:.2f} interval_ours_s={itv['ours_s']:.4f} "
        f"interval_reference_s={itv['reference_s']:.4f} interval_abs_diff={itv['abs_diff']:.2e} "
        f"items={items} annotations={n_annotations} runs={runs}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
