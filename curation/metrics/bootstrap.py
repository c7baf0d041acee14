"""Percentile bootstrap over resampled rows (used for α, DA and priority intervals).

docs/algorithms.md#bootstrap (1 000 resamples of consensus rows, mean and SD) and the α interval on
the overview dashboard (resampling units).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["BootstrapResult", "bootstrap"]


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap summary: ``estimate`` on the full sample, ``mean``/``sd`` of the replicate
    statistics, percentile interval ``[low, high]`` at ``level``, and the number of finite
    replicates ``n_ok`` (replicates whose statistic was NaN or raised ValueError are skipped)."""

    estimate: float
    mean: float
    sd: float
    low: float
    high: float
    level: float
    n_ok: int


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n: int,
    n_boot: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
) -> BootstrapResult:
    """Bootstrap ``statistic(indices)`` over ``n`` rows resampled with replacement.

    ``statistic`` receives an index array (``np.arange(n)`` for the point estimate) and
    returns a float. ``seed`` makes the result reproducible.
    """
    if n < 1:
        raise ValueError("bootstrap needs at least one row")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    rng = np.random.default_rng(seed)

    def safe(idx: np.ndarray) -> float:
        try:
            return float(statistic(idx))
        except ValueError:
            return float("nan")

    estimate = safe(np.arange(n))
    values = np.array([safe(rng.integers(0, n, size=n)) for _ in range(n_boot)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        nan = float("nan")
        return BootstrapResult(estimate, nan, nan, nan, nan, level, 0)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return BootstrapResult(
        estimate=estimate,
        mean=float(values.mean()),
        sd=float(values.std()),
        low=float(low),
        high=float(high),
        level=level,
        n_ok=int(values.size),
    )
