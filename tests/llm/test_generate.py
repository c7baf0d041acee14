from __future__ import annotations

import pytest

from curation.llm.generate import generate, generate_indexed, generate_raw

PROMPTS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Say hello in French."}],
]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": 0}, "n"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        generate_indexed(None, PROMPTS, **kwargs)


@pytest.mark.slow
def test_short_responses_with_flags(llm):
    out = generate(llm, PROMPTS, n=1, temperature=0, max_new_tokens=16)
    assert len(out) == 3
    for outs in out:
        assert len(outs) == 1
        o = outs[0]
        assert o.text.strip() == o.text and o.text
        assert 1 <= o.n_tokens <= 16
        assert "<|im_end|>" not in o.text
        if not o.finished:
            assert o.n_tokens == 16  # unfinished means it hit max_new_tokens
    assert out[1][0].finished
    assert "Paris" in out[1][0].text
    assert "4" in out[0][0].text or "four" in out[0][0].text.lower()


@pytest.mark.slow
def test_truncated_is_not_finished(llm):
    out = generate(
        llm,
        [[{"role": "user", "content": "Write a long essay about the history of Rome."}]],
        temperature=0,
        max_new_tokens=3,
    )
    assert out[0][0].n_tokens == 3
    assert out[0][0].finished is False


@pytest.mark.slow
def test_seed_reproducible_and_n_outputs(llm):
    a = generate(llm, PROMPTS, n=2, temperature=1.0, max_new_tokens=6, seed=123, batch_size=6)
    b = generate(llm, PROMPTS, n=2, temperature=1.0, max_new_tokens=6, seed=123, batch_size=6)
    assert a == b
    assert all(len(outs) == 2 for outs in a)
    c = generate(llm, PROMPTS, n=2, temperature=1.0, max_new_tokens=6, seed=999, batch_size=6)
    assert a != c


@pytest.mark.slow
def test_on_batch_progress_and_cancel(llm):
    calls = []

    def on_batch(done, total):
        calls.append((done, total))
        return False  # cancel after the first batch

    out = generate(llm, PROMPTS, n=1, temperature=0, max_new_tokens=4, batch_size=1, on_batch=on_batch)
    assert calls == [(1, 3)]
    assert len(out) == 1


@pytest.mark.slow
def test_generate_raw_from_prefix(llm):
    outs = generate_raw(llm, "<|im_start|>user\n", n=3, temperature=1.0, max_new_tokens=6, seed=5, batch_size=2)
    assert len(outs) == 3
    assert all(o.n_tokens >= 1 for o in outs)
    again = generate_raw(llm, "<|im_start|>user\n", n=3, temperature=1.0, max_new_tokens=6, seed=5, batch_size=2)
    assert outs == again
