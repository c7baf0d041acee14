"""Filters for synthesized instructions (docs/algorithms.md#instruction-filters), pure Python
and numpy: no ORM, no model. Each filter keeps a count and the rejected
examples with their reason, so curators can review what was thrown away.

Order (cheap first): empty → too short → too long → truncated → ends with ':'
→ junk characters → language → exact duplicate → near duplicate → quality.
An instruction is rejected by the first filter it fails.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

REASONS = (
    "empty",
    "too_short",
    "too_long",
    "truncated",
    "ends_with_colon",
    "junk",
    "language",
    "duplicate",
    "near_duplicate",
    "quality",
)


@dataclass
class Candidate:
    text: str
    finished: bool = True  # stopped at end of turn (False: cut by max_new_tokens)
    meta: dict = field(default_factory=dict)


@dataclass
class FilterConfig:
    min_chars: int = 12
    max_chars: int = 2000
    require_finished: bool = True
    reject_colon_ending: bool = True
    max_junk_share: float = 0.1
    languages: tuple[str, ...] = ("en",)  # empty: any language
    near_duplicate_distance: float = 0.05  # squared L2 on unit vectors = 2 - 2 cos
    min_input_quality: str | None = None  # e.g. "average": drop "very poor" and "poor"


@dataclass
class FilterReport:
    accepted: list[Candidate]
    rejected: list[tuple[Candidate, str]]
    counts: dict[str, int]
    min_neighbour_distance: list[float | None]  # per accepted candidate (nan when alone)


def normalise(text: str) -> str:
    """Lower case, Unicode NFKC, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return re.sub(r"\s+", " ", text).strip()


def normalised_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def junk_share(text: str) -> float:
    """Share of characters that are control, private-use, unassigned,
    replacement characters, or part of a run of 6+ identical characters."""
    if not text:
        return 0.0
    bad = 0
    for ch in text:
        category = unicodedata.category(ch)
        if ch == "\ufffd" or category in {"Co", "Cn", "Cs"} or (category == "Cc" and ch not in "\n\t\r"):
            bad += 1
    runs = sum(len(m.group(0)) for m in re.finditer(r"(.)\1{5,}", text))
    return min(1.0, (bad + runs) / len(text))


def detect_language(text: str) -> str:
    import py3langid

    return py3langid.classify(text)[0]


def min_neighbour_distances(vectors: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """For each row, the smallest squared L2 distance to an EARLIER row or to
    any reference row (unit-normalised first). First rows with no neighbour get inf.

    Only earlier rows count, so of a cluster of near duplicates the first is
    kept (Magpie's rule keeps the smallest index, docs/algorithms.md#near-duplicates).
    """
    x = _unit(np.asarray(vectors, dtype=np.float64))
    n = len(x)
    out = np.full(n, np.inf)
    if n == 0:
        return out
    if reference is not None and len(reference):
        r = _unit(np.asarray(reference, dtype=np.float64))
        out = np.minimum(out, (2.0 - 2.0 * (x @ r.T)).min(axis=1))
    if n > 1:
        d = 2.0 - 2.0 * (x @ x.T)
        d[np.triu_indices(n)] = np.inf  # only j < i
        out = np.minimum(out, d.min(axis=1))
    return np.maximum(out, 0.0)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


QUALITY_LEVELS = ("very poor", "poor", "average", "good", "excellent")


def sample_reason(
    text: str, *, finished: bool, config: FilterConfig, language: Callable[[str], str] = detect_language
) -> str | None:
    """The first filter a stripped sample fails on its own (every filter before the
    duplicate checks, which compare it with others), or None when it passes them."""
    if not text:
        return "empty"
    if len(text) < config.min_chars:
        return "too_short"
    if len(text) > config.max_chars:
        return "too_long"
    if config.require_finished and not finished:
        return "truncated"
    if config.reject_colon_ending and text.endswith((":", "：")):
        return "ends_with_colon"
    if junk_share(text) > config.max_junk_share:
        return "junk"
    if config.languages and language(text) not in config.languages:
        return "language"
    return None


def apply_filters(
    candidates: Sequence[Candidate],
    *,
    config: FilterConfig | None = None,
    existing_hashes: Iterable[str] = (),
    embed: Callable[[list[str]], np.ndarray] | None = None,
    existing_vectors: np.ndarray | None = None,
    quality: Callable[[list[str]], list[str]] | None = None,
    language: Callable[[str], str] = detect_language,
) -> FilterReport:
    """Run every filter; ``embed`` and ``quality`` are optional model-backed steps.

    ``existing_hashes`` are ``normalised_hash`` values of prompts the project
    already has; ``existing_vectors`` their embeddings (same ``embed``).
    ``quality`` maps instructions to input-quality labels from QUALITY_LEVELS.
    """
    config = config or FilterConfig()
    counts = dict.fromkeys(REASONS, 0)
    rejected: list[tuple[Candidate, str]] = []
    seen = set(existing_hashes)
    survivors: list[Candidate] = []

    def reject(candidate: Candidate, reason: str) -> None:
        counts[reason] += 1
        rejected.append((candidate, reason))

    for candidate in candidates:
        text = candidate.text.strip()
        candidate.text = text
        reason = sample_reason(text, finished=candidate.finished, config=config, language=language)
        if reason is not None:
            reject(candidate, reason)
        else:
            digest = normalised_hash(text)
            if digest in seen:
                reject(candidate, "duplicate")
            else:
                seen.add(digest)
                candidate.meta["normalised_hash"] = digest
                survivors.append(candidate)

    distances: list[float | None] = [None] * len(survivors)
    if embed is not None and survivors:
        vectors = np.asarray(embed([c.text for c in survivors]))
        nearest = min_neighbour_distances(vectors, existing_vectors)
        kept: list[Candidate] = []
        distances = []
        for candidate, distance in zip(survivors, nearest):
            value = float(distance) if np.isfinite(distance) else None
            candidate.meta["min_neighbour_distance"] = value
            if value is not None and value < config.near_duplicate_distance:
                reject(candidate, "near_duplicate")
            else:
                kept.append(candidate)
                distances.append(value)
        survivors = kept

    if quality is not None and survivors and config.min_input_quality:
        floor = QUALITY_LEVELS.index(config.min_input_quality)
        labels = quality([c.text for c in survivors])
        kept, kept_distances = [], []
        for candidate, label, distance in zip(survivors, labels, distances):
            candidate.meta["input_quality"] = label
            if label in QUALITY_LEVELS and QUALITY_LEVELS.index(label) < floor:
                reject(candidate, "quality")
            else:
                kept.append(candidate)
                kept_distances.append(distance)
        survivors, distances = kept, kept_distances

    return FilterReport(accepted=survivors, rejected=rejected, counts=counts, min_neighbour_distance=distances)
