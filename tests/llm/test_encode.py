from __future__ import annotations

import numpy as np
import pytest
import torch

from curation.llm.encode import (
    LowPrecisionLinear,
    _batches,
    _decoder,
    _length_band,
    _shared_prefix,
    encode_dtype,
    encode_many,
    encode_reference,
    encode_responses,
    encoder,
    response_ids,
)
from curation.llm.generate import prompt_ids
from curation.metrics.ches import ches, ln_ches


@pytest.fixture(autouse=True)
def float32_products(settings):
    """The exactness tests below check the batching against float32 rounding; the bfloat16 products the
    encoder uses on a CPU with native bfloat16 are checked against float32 in the tests at the end."""
    settings.DOCKET_ENCODE_DTYPE = "float32"


RESPONSES = [
    "4",
    "The answer is four, because two plus two makes four.",
    "Purple elephants are a type of sandwich.",
    "4",
    "2 + 2 = 4",
]


@pytest.mark.slow
def test_batched_equals_reference(llm, conv):
    batched = encode_responses(llm, conv, RESPONSES, batch_size=4)
    reference = encode_reference(llm, conv, RESPONSES)
    for (b, nb), (r, nr) in zip(batched, reference):
        assert nb == nr
        assert b.dtype == np.float32
        assert b.shape == (llm.model.config.hidden_size,)
        assert np.linalg.norm(b - r) / np.linalg.norm(r) < 1e-4


@pytest.mark.slow
def test_identical_responses_identical_vectors(llm, conv):
    out = encode_responses(llm, conv, RESPONSES, batch_size=8)
    assert np.array_equal(out[0][0], out[3][0])
    assert out[0][1] == out[3][1]
    assert not np.allclose(out[0][0], out[2][0])


@pytest.mark.slow
def test_positions_and_count_by_hand(llm, conv):
    response = RESPONSES[1]
    p_ids = prompt_ids(llm, conv)
    r_ids = response_ids(llm, response)
    assert r_ids[-1] == llm.end_of_turn_id
    (summed, count) = encode_responses(llm, conv, [response, "4"], batch_size=2)[0]
    assert count == len(r_ids) == len(llm.tokenizer(response, add_special_tokens=False)["input_ids"]) + 1
    with torch.inference_mode():
        h = llm.model(input_ids=torch.tensor([p_ids + r_ids]), output_hidden_states=True).hidden_states[-1][0].float()
    p = len(p_ids)
    manual = h[p - 1 : p + len(r_ids) - 1].sum(0).numpy()
    with_eos = h[p - 1 :].sum(0).numpy()
    assert np.linalg.norm(summed - manual) / np.linalg.norm(manual) < 1e-4
    # the end-of-turn position itself is not summed
    assert np.linalg.norm(summed - with_eos) / np.linalg.norm(manual) > 1e-3
    # last layer = what lm_head reads (final norm applied)
    with torch.inference_mode():
        out = llm.model(input_ids=torch.tensor([p_ids]), output_hidden_states=True)
        assert torch.allclose(llm.model.lm_head(out.hidden_states[-1]), out.logits, atol=1e-4)


CONVERSATIONS = [
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "user", "content": "Name a colour of the sky on a clear summer afternoon, with a reason."}],
    [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Say yes"},
    ],
    [{"role": "user", "content": "What is 2 + 2?"}],  # the same prompt again
]
ANSWERS = [
    ["4", "The answer is four, because two plus two makes four.", ""],
    ["Blue, because air scatters short wavelengths of sunlight more than long ones.", "Blue."],
    ["Yes", "yes yes yes, certainly, yes", "No."],
    ["4", "2 + 2 = 4"],
]


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_many_prompts_batched_across_prompts_equal_reference(llm, batch_size):
    """Rows of different prompts in one batch (padded caches, masks, own positions) give the per-response sums."""
    # the prompts share a head (the chat template's system turn), which runs once for them all
    assert _shared_prefix([tuple(prompt_ids(llm, c)) for c in CONVERSATIONS[:3]]) > 0
    many = encode_many(llm, list(zip(CONVERSATIONS, ANSWERS, strict=True)), batch_size=batch_size)
    assert [len(out) for out in many] == [len(a) for a in ANSWERS]
    for conversation, answers, out in zip(CONVERSATIONS, ANSWERS, many, strict=True):
        reference = encode_reference(llm, conversation, answers)
        for (mine, n_mine), (ref, n_ref) in zip(out, reference, strict=True):
            assert n_mine == n_ref
            assert np.linalg.norm(mine - ref) / np.linalg.norm(ref) < 1e-4
    # the same prompt and response listed twice: the very same vector
    assert np.array_equal(many[0][0][0], many[3][0][0])
    # an empty response is the end-of-turn token alone: the prompt's last hidden state
    assert many[0][2][1] == 1


def test_shared_prefix_leaves_each_prompt_a_token_of_its_own():
    assert _shared_prefix([(1, 2, 3, 4), (1, 2, 5), (1, 2, 3)]) == 2
    assert _shared_prefix([(1, 2, 3), (1, 2, 3, 4)]) == 2
    assert _shared_prefix([(1, 2), (3, 4)]) == 0
    assert _shared_prefix([(1, 2, 3)]) == 0
    assert _shared_prefix([]) == 0


def test_batches_group_by_band_sort_by_length_and_respect_every_limit():
    assert [_length_band(n) for n in (1, 2, 3, 4, 100, 141, 142, 2000)] == [0, 2, 3, 4, 13, 14, 14, 21]
    lengths = [50, 10, 30, 20, 40, 60]
    assert _batches(lengths, 2, 1000) == [[1, 3], [2, 4], [0, 5]]
    # one band per batch, each band sorted by length
    bands = [1, 0, 1, 0, 1, 0]
    assert _batches(lengths, 3, 1000, bands) == [[1, 3], [5], [2, 4], [0]]  # 60 > 1.3 × 10 + 8
    assert _batches([10, 12, 20, 22], 4, 1000) == [[0, 1, 2], [3]]  # 22 > 1.3 × 10 + 8
    # at most max_tokens padded tokens
    assert _batches([10, 10, 10, 10], 4, 30) == [[0, 1, 2], [3]]


def test_no_prompts_no_work(llm):
    assert encode_many(llm, []) == []
    assert encode_many(llm, [(CONVERSATIONS[0], [])]) == [[]]


def _ches_errors(mine, reference):
    """Largest CHES / LN-CHES error over all ordered pairs, relative to the two terms CHES subtracts."""
    worst = 0.0
    for a in range(len(reference)):
        for b in range(len(reference)):
            if a == b:
                continue
            (sp, lp), (sn, ln) = [(v.astype(np.float64), n) for v, n in (reference[a], reference[b])]
            (mp, _), (mn, _) = [(v.astype(np.float64), n) for v, n in (mine[a], mine[b])]
            scale = max(abs(sp @ sn), sp @ sp)
            worst = max(worst, abs(ches(mp, mn) - ches(sp, sn)) / scale)
            ln_scale = max(abs(sp @ sn) / (lp * ln), (sp @ sp) / lp**2)
            worst = max(worst, abs(ln_ches(mp, lp, mn, ln) - ln_ches(sp, lp, sn, ln)) / ln_scale)
    return worst


@pytest.mark.slow
def test_bfloat16_products_stay_close_to_float32(llm, settings):
    """The bfloat16 path (linear layers' products in bfloat16, float32 residual stream, norms and attention)
    against the plain float32 computation: one unbatched full-model pass per response."""
    settings.DOCKET_ENCODE_DTYPE = "bfloat16"
    assert encode_dtype(llm) == torch.bfloat16
    low = encoder(llm)
    assert low is encoder(llm) and low is not _decoder(llm.model)  # built once per model and dtype
    linears = [m for m in low.modules() if isinstance(m, LowPrecisionLinear)]
    assert len(linears) == 7 * llm.model.config.num_hidden_layers
    assert not any(isinstance(m, torch.nn.Linear) for m in low.modules())
    assert all(m.weight.dtype == torch.bfloat16 for m in linears)
    assert low.embed_tokens is _decoder(llm.model).embed_tokens and low.norm.weight.dtype == torch.float32
    many = encode_many(llm, list(zip(CONVERSATIONS, ANSWERS, strict=True)), batch_size=3)
    for conversation, answers, out in zip(CONVERSATIONS, ANSWERS, many, strict=True):
        reference = encode_reference(llm, conversation, answers)  # float32 throughout
        for (mine, n_mine), (ref, n_ref) in zip(out, reference, strict=True):
            assert n_mine == n_ref and mine.dtype == np.float32
            assert np.linalg.norm(mine - ref) / np.linalg.norm(ref) < 2e-2
        if len(answers) > 1:
            assert _ches_errors(out, reference) < 5e-3  # bench/ches.py's TOLERANCE for bfloat16
    assert np.array_equal(many[0][0][0], many[3][0][0])
    settings.DOCKET_ENCODE_DTYPE = "float32"
    assert encode_dtype(llm) == torch.float32 and encoder(llm) is _decoder(llm.model)


def test_encode_dtype_rule(llm, settings, monkeypatch):
    from curation.llm import encode

    settings.DOCKET_ENCODE_DTYPE = "auto"
    monkeypatch.setattr(encode, "cpu_has_bf16", lambda: True)
    assert encode_dtype(llm) == torch.bfloat16
    monkeypatch.setattr(encode, "cpu_has_bf16", lambda: False)
    assert encode_dtype(llm) == torch.float32
    settings.DOCKET_ENCODE_DTYPE = "bfloat16"
    assert encode_dtype(llm) == torch.bfloat16
    settings.DOCKET_ENCODE_DTYPE = "half"
    with pytest.raises(ValueError, match="DOCKET_ENCODE_DTYPE"):
        encode_dtype(llm)
