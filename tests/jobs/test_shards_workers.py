"""One encode job, three real Celery workers, one SIGKILLed in the middle of a
shard: the other two take its shard over, every response is encoded exactly
once, and CHES is the same as a one-worker run of the same job on an
identical project (docs/architecture.md#jobs, curation.jobs.shards).

Shards are one prompt each (``DOCKET_ENCODE_SHARD_PROMPTS=1``) so the job is
quick with the default model yet has shards for every worker.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from annotate.models import Item, ItemResponse, Prompt, content_hash
from curation.ches.selectors import encoding_model_name, pair_ches
from curation.ches.services import encode_create
from curation.models import JobShard, ResponseEncoding
from tests.factories import ProjectFactory, ResponseFactory
from tests.worker import job_ended, kill_a_worker_mid_shard, purge_queues, start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.timeout(900)]

QUESTIONS = [
    ("What is the capital of France?", "Paris.", "The capital of France is Lyon, on the Rhône."),
    ("Name a prime number.", "Seven is prime.", "Nine."),
    ("How do bees make honey?", "From nectar, which they evaporate in the hive.", "Bees buy it."),
    ("What is 7 times 8?", "56", "7 times 8 is 54."),
    ("Why is the sky blue?", "Rayleigh scattering of sunlight.", "Because the sea reflects it."),
    ("Translate 'cat' into Spanish.", "Gato.", "Perro."),
    ("What does a thermometer measure?", "Temperature.", "Pressure, in bars."),
    ("How many legs does a spider have?", "Eight.", "Six, like every insect."),
    ("What colour are bananas?", "Yellow when ripe.", "Blue."),
    ("Give me a synonym for happy.", "Glad.", "Sad."),
    ("Suggest a name for a goldfish.", "Bubbles.", "I would rather not."),
    ("Write a haiku about rain.", "Soft rain on the roof / the garden drinks its fill / puddles hold the sky", "Rain."),
]
ENV = {"DOCKET_ENCODE_SHARD_PROMPTS": "1", "DOCKET_JOB_HEARTBEAT_SECONDS": "1"}


def _project(slug: str):
    project = ProjectFactory(slug=slug)
    for question, chosen, rejected in QUESTIONS:
        messages = [{"role": "user", "content": question}]
        prompt = Prompt.objects.create(project=project, messages=messages, content_hash=content_hash(messages))
        responses = [ResponseFactory(prompt=prompt, text=text) for text in (chosen, rejected)]
        item = Item.objects.create(
            project=project,
            kind="pairwise",
            prompt=prompt,
            content_hash=content_hash(["pairwise", question]),
        )
        ItemResponse.objects.bulk_create(
            ItemResponse(item=item, response=r, position=i) for i, r in enumerate(responses)
        )
    return project


def _pairs(project) -> list[tuple[int, int]]:
    """(chosen, rejected) response ids in question order."""
    pairs = []
    for item in Item.objects.filter(project=project).order_by("id"):
        chosen, rejected = item.ordered_responses()
        pairs.append((chosen.pk, rejected.pk))
    return pairs


def _vectors(project, model_name) -> list[bytes]:
    return [
        bytes(ResponseEncoding.objects.get(response_id=pk, model_name=model_name).vector)
        for pair in _pairs(project)
        for pk in pair
    ]


@pytest.mark.django_db(transaction=True)
def test_three_workers_share_one_encode_job_and_one_is_killed_mid_shard(tmp_path):
    purge_queues()
    shared, reference = _project("shards-a"), _project("shards-b")
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    workers = [start_worker(f"w{n}", log, queues="model", env=ENV) for n, log in enumerate(logs)]
    survivors = []
    try:
        job = encode_create(project=shared, user=None, params={"batch_size": 2})  # autocommit: enqueued at once

        victim, shard = kill_a_worker_mid_shard(job, workers, logs)
        survivors = [w for w in workers if w is not victim]
        wait_for(lambda: job_ended(job), timeout=600, what="the job to end", proc=survivors[0], log=logs[0])
        assert job.status == "succeeded", job.error

        # the killed worker's shard was taken over by another worker and done once
        shard.refresh_from_db()
        assert shard.status == "done" and shard.attempts == 2
        assert f":{victim.pid}:" not in shard.worker
        assert f"shard {shard.index} re-claimed" in job.log_tail
        shards = list(JobShard.objects.filter(job=job))
        assert len(shards) == len(QUESTIONS) and {s.status for s in shards} == {"done"}
        assert sum(s.attempts for s in shards) == len(QUESTIONS) + 1  # only the killed shard ran twice
        assert len({s.worker for s in shards}) >= 2  # the work was shared
        assert job.progress_done == job.progress_total == len(QUESTIONS)

        # every response encoded exactly once, by this job
        model_name = encoding_model_name(project=shared)
        stored = ResponseEncoding.objects.filter(response__prompt__project=shared)
        assert stored.count() == 2 * len(QUESTIONS)
        assert set(stored.values_list("model_name", "job_id")) == {(model_name, job.pk)}
        assert job.result["responses_encoded"] == 2 * len(QUESTIONS) and job.result["prompts"] == len(QUESTIONS)

        # the same job on an identical project with one worker left
        stop_worker(survivors[1])
        one = encode_create(project=reference, user=None, params={"batch_size": 2})
        wait_for(lambda: job_ended(one), timeout=600, what="the one-worker job", proc=survivors[0], log=logs[0])
        assert one.status == "succeeded", one.error
        assert len({s.worker for s in JobShard.objects.filter(job=one)}) == 1
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
            stop_worker(proc)
        purge_queues()

    assert one.result["responses_encoded"] == job.result["responses_encoded"]
    assert one.result["tokens"] == job.result["tokens"]
    assert _vectors(shared, model_name) == _vectors(reference, model_name)  # byte for byte
    ches, ln_ches = pair_ches(pairs=_pairs(shared), model_name=model_name)
    ches_one, ln_ches_one = pair_ches(pairs=_pairs(reference), model_name=model_name)
    assert not np.isnan(ches).any()
    np.testing.assert_array_equal(ches, ches_one)
    np.testing.assert_array_equal(ln_ches, ln_ches_one)
