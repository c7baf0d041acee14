"""``next_token_label_probs``, the one label-probability implementation the
judge job (``curation.judging.runner``) and the judge primitives share:
raw vs renormalised mass, the assistant prefix, and that a padded batch
scores every row as it would alone (real default model)."""

from __future__ import annotations

import pytest

from curation.judging import runner as judging
from curation.llm.judge import label_token_ids, next_token_label_probs

pytestmark = pytest.mark.slow


def prompts(*questions):
    return [[{"role": "system", "content": judging.JUDGE_SYSTEM}, {"role": "user", "content": q}] for q in questions]


def test_batch_rows_score_as_alone_and_normalise(llm):
    batch = prompts("Is 2+2=4? Reply yes or no.", "Is the sky green on a clear day at noon? Reply yes or no, please.")
    labels = ("yes", "no")
    raw = next_token_label_probs(llm, batch, labels, assistant_prefix="Answer:", normalise=False)
    for row, one in zip(raw, batch, strict=True):
        alone = next_token_label_probs(llm, [one], labels, assistant_prefix="Answer:", normalise=False)[0]
        assert row == pytest.approx(alone, rel=1e-4)
        assert 0 < sum(row.values()) <= 1
    normalised = next_token_label_probs(llm, batch, labels, assistant_prefix="Answer:")
    for r, n in zip(raw, normalised, strict=True):
        total = sum(r.values())
        assert n == pytest.approx({k: v / total for k, v in r.items()}, rel=1e-6)
    # the prefix is part of the scored text: without it the numbers differ
    bare = next_token_label_probs(llm, batch[:1], labels, normalise=False)[0]
    assert bare != pytest.approx(raw[0], rel=1e-3)


def test_judging_label_probs_sum_the_spellings(llm):
    (probs,) = judging._label_probs(llm, ["Is Paris in France? Reply yes or no."], ("yes", "no"))
    spelled = next_token_label_probs(
        llm, prompts("Is Paris in France? Reply yes or no."), ("yes", "Yes", "no", "No"), assistant_prefix="Answer:",
        normalise=False,
    )[0]  # fmt: skip
    assert probs["yes"] == pytest.approx(spelled["yes"] + spelled["Yes"])
    assert probs["no"] == pytest.approx(spelled["no"] + spelled["No"])
    ids = label_token_ids(llm, ("A", "B"), assistant_prefix="Answer:")
    assert ids["A"] and ids["B"] and not set(ids["A"]) & set(ids["B"])
