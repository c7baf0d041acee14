"""Each synthesis filter on constructed inputs."""

import numpy as np
import pytest

from curation.synthesis.filters import (
    Candidate,
    FilterConfig,
    apply_filters,
    junk_share,
    min_neighbour_distances,
    normalise,
    normalised_hash,
)


def run(texts, **kwargs):
    candidates = [t if isinstance(t, Candidate) else Candidate(t) for t in texts]
    return apply_filters(candidates, **kwargs)


GOOD = "How do I reverse a linked list in Python?"


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (Candidate("   "), "empty"),
        (Candidate("Hi?"), "too_short"),
        (Candidate("Explain " + "why " * 600), "too_long"),
        (Candidate(GOOD, finished=False), "truncated"),
        (Candidate("Here is the list of steps to follow:"), "ends_with_colon"),
        (Candidate("What is \ufffd\ufffd\ufffd\ufffd\ufffd\ufffd this thing?"), "junk"),
        (Candidate("Please explain!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"), "junk"),
        (Candidate("Wie kann ich eine verkettete Liste in Python umkehren?"), "language"),
    ],
)
def test_each_filter_rejects_with_its_reason(candidate, reason):
    report = run([candidate])
    assert report.accepted == []
    assert report.rejected == [(candidate, reason)]
    assert report.counts[reason] == 1
    assert sum(report.counts.values()) == 1


def test_good_instruction_passes():
    report = run([GOOD])
    assert [c.text for c in report.accepted] == [GOOD]
    assert sum(report.counts.values()) == 0


def test_any_language_when_none_configured():
    report = run(["Wie kann ich eine verkettete Liste in Python umkehren?"], config=FilterConfig(languages=()))
    assert len(report.accepted) == 1


def test_exact_duplicates_normalised_and_against_existing():
    existing = [normalised_hash("What is the capital of France?")]
    report = run(
        [
            GOOD,
            "how do I reverse a linked list in python",
            "  What is the capital of FRANCE  ",
            "Name three prime numbers.",
        ],
        existing_hashes=existing,
    )
    assert [c.text for c in report.accepted] == [GOOD, "Name three prime numbers."]
    assert report.counts["duplicate"] == 2
    assert normalise("Hello,   World!") == "hello world"


def test_junk_share_counts_bad_characters():
    assert junk_share("plain text") == 0
    assert junk_share("ab\x00\x01") == pytest.approx(0.5)


def test_min_neighbour_distance_hand_worked():
    # unit vectors: e1, e1 (duplicate of row 0), e2, and (e1+e2)/sqrt2
    v = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    d = min_neighbour_distances(v)
    assert np.isinf(d[0])  # nothing earlier
    assert d[1] == pytest.approx(0.0)
    assert d[2] == pytest.approx(2.0)  # orthogonal to e1: 2 - 2*0
    assert d[3] == pytest.approx(2 - 2 * np.sqrt(0.5))
    # against a reference set, the first row too has a neighbour
    d_ref = min_neighbour_distances(v[:1], reference=np.array([[0.0, 3.0]]))
    assert d_ref[0] == pytest.approx(2.0)


def test_near_duplicates_keep_the_first_and_check_existing():
    texts = [GOOD, "How can I reverse a linked list using Python?", "Name three prime numbers.", "Describe a rainbow."]
    vectors = {texts[0]: [1, 0, 0], texts[1]: [0.999, 0.02, 0], texts[2]: [0, 1, 0], texts[3]: [0, 0, 1]}
    existing_vectors = np.array([[0.0, 0.01, 1.0]])  # the project already has a rainbow question

    def embed(batch):
        return np.array([vectors[t] for t in batch], dtype=float)

    report = run(
        texts, embed=embed, existing_vectors=existing_vectors, config=FilterConfig(near_duplicate_distance=0.05)
    )
    assert [c.text for c in report.accepted] == [GOOD, "Name three prime numbers."]
    assert report.counts["near_duplicate"] == 2
    # GOOD is orthogonal to the existing rainbow vector: 2 - 2·0
    assert report.min_neighbour_distance[0] == pytest.approx(2.0, abs=1e-3)
    # primes: nearest is the (rejected) paraphrase, cos ≈ 0.02
    assert report.min_neighbour_distance[1] == pytest.approx(2 - 2 * 0.02 / np.linalg.norm([0.999, 0.02]), abs=1e-6)
    assert run([GOOD], embed=embed).min_neighbour_distance == [None]


def test_quality_floor():
    def quality(batch):
        return ["poor" if "rainbow" in t else "good" for t in batch]

    report = run(
        [GOOD, "Describe a rainbow please."], quality=quality, config=FilterConfig(min_input_quality="average")
    )
    assert [c.text for c in report.accepted] == [GOOD]
    assert report.counts["quality"] == 1
    assert report.accepted[0].meta["input_quality"] == "good"
