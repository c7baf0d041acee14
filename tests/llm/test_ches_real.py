"""CHES from stored encodings with the real default model: an encode job
stores the vectors, ``pair_ches`` scores pairs from them, and both agree with
the paper's per-example computation (``encode_reference``: one unbatched
forward pass per response)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curation.ches.selectors import encoding_model_name, encodings_for, pair_ches
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.llm.encode import encode_dtype, encode_reference
from curation.metrics.ches import ches, ln_ches
from curation.models import ResponseEncoding
from tests.factories import make_item

pytestmark = pytest.mark.slow

TEXTS = ["4", "The answer is four, because two plus two makes four.", "Purple elephants are a type of sandwich."]


@pytest.fixture
def encoded(project, llm, settings):
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0  # the test's transaction is invisible to the heartbeat thread
    item = make_item(project, "ranking", texts=TEXTS)
    # the same response text under another prompt
    other = make_item(project, "pairwise", texts=[TEXTS[0], "Five."])
    job = run_job(job_create(project=project, kind="encode", params={}, enqueue=False).pk)  # default batch size
    assert job.status == "succeeded", job.error
    return item, other, encoding_model_name(project=project)


def test_identical_responses_have_ches_exactly_zero(encoded):
    item, _other, model = encoded
    ids = [r.pk for r in item.ordered_responses()]
    values, normalised = pair_ches(pairs=[(i, i) for i in ids], model_name=model)
    assert values.tolist() == [0.0, 0.0, 0.0]
    assert normalised.tolist() == [0.0, 0.0, 0.0]
    # different responses are not 0, and CHES is asymmetric
    forward, _ = pair_ches(pairs=[(ids[1], ids[2])], model_name=model)
    backward, _ = pair_ches(pairs=[(ids[2], ids[1])], model_name=model)
    assert forward[0] != 0 and backward[0] != 0 and not np.isclose(forward[0], backward[0])


def test_stored_vectors_and_pair_ches_equal_the_reference(encoded, llm):
    """The job's default path against float32: float32 rounding, or with bfloat16 products (a CPU with native
    bfloat16, curation.llm.encode.encode_dtype) bench/ches.py's bfloat16 tolerance."""
    item, other, model = encoded
    low = encode_dtype(llm) != torch.float32
    vector_tol, ches_tol = (2e-2, 5e-3) if low else (1e-4, 1e-4)
    responses = item.ordered_responses()
    # one unbatched forward pass of the full model per response (the paper's per-example script)
    reference = encode_reference(llm, item.prompt.messages, [r.text for r in responses])
    stored = encodings_for(response_ids=[r.pk for r in responses], model_name=model)
    for response, (ref, n) in zip(responses, reference, strict=True):
        vector, count = stored[response.pk]
        assert count == n == len(llm.tokenizer(response.text, add_special_tokens=False)["input_ids"]) + 1
        assert vector.shape == (llm.model.config.hidden_size,)
        assert np.linalg.norm(vector - ref) / np.linalg.norm(ref) < vector_tol
    pairs = [(a, b) for a in range(3) for b in range(3) if a != b]
    values, normalised = pair_ches(pairs=[(responses[a].pk, responses[b].pk) for a, b in pairs], model_name=model)
    for k, (a, b) in enumerate(pairs):
        (sp, lp), (sn, ln) = reference[a], reference[b]
        sp, sn = sp.astype(np.float64), sn.astype(np.float64)
        # error relative to the two terms CHES subtracts (see bench/ches.py)
        scale = max(abs(sp @ sn), sp @ sp)
        assert abs(values[k] - ches(sp, sn)) <= ches_tol * scale
        ln_scale = max(abs(sp @ sn) / (lp * ln), (sp @ sp) / lp**2)
        assert abs(normalised[k] - ln_ches(sp, lp, sn, ln)) <= ches_tol * ln_scale
    # the prompt conditions the vector: "4" under another prompt is encoded differently
    same_text = [r for r in other.ordered_responses() if r.text == TEXTS[0]][0]
    a = ResponseEncoding.objects.get(response=responses[0]).as_array()
    b = ResponseEncoding.objects.get(response=same_text).as_array()
    assert np.linalg.norm(a - b) / np.linalg.norm(a) > 1e-3
