"""One synthesize job, three real Celery workers, one SIGKILLed in the middle of
a shard: the others take its shard over, and the stored instructions (texts,
filter decisions, tags, distances), prompts and responses are those of a
one-worker run of the same job on an identical project
(docs/architecture.md#shards-one-job-many-workers, curation.synthesis.runner).

Shards are 2 samples each (``batch_size``) so the job has shards for every
worker; responses (2 per accepted instruction, one prompt a shard) make the
second round of shards (``ShardSpec.more``).
"""

from __future__ import annotations

import os
import signal

import pytest

from annotate.models import Prompt, Response, content_hash
from curation.models import JobShard, SynthesizedInstruction
from curation.synthesis.services import synthesize_create
from tests.factories import ProjectFactory
from tests.worker import job_ended, kill_a_worker_mid_shard, purge_queues, start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.timeout(900)]

ENV = {"DOCKET_JOB_HEARTBEAT_SECONDS": "1"}
PARAMS = {
    "n": 12,
    "batch_size": 2,
    "max_new_tokens": 24,
    "seed": 5,
    "languages": "",
    "responses": 2,
    "response_mode": "items",
    "response_max_new_tokens": 8,
    "kinds": ["pairwise"],
}


def _project(slug: str):
    project = ProjectFactory(slug=slug)
    for text in ("What is the capital of France?", "Write a haiku about rain."):
        messages = [{"role": "user", "content": text}]
        Prompt.objects.create(project=project, messages=messages, content_hash=content_hash(messages))
    return project


def _instructions(job) -> list[tuple]:
    return list(
        SynthesizedInstruction.objects.filter(job=job)
        .order_by("index")
        .values_list("index", "text", "accepted", "reason", "tags", "min_distance", "n_tokens", "finished")
    )


def _prompts(project) -> list[tuple]:
    """Synthesized prompts in creation order, each with its responses' texts."""
    return [
        (p.text, p.tags, sorted(Response.objects.filter(prompt=p).values_list("text", flat=True)))
        for p in Prompt.objects.filter(project=project, source="synthesized").order_by("id")
    ]


@pytest.mark.django_db(transaction=True)
def test_three_workers_share_one_synthesize_job_and_one_is_killed_mid_shard(tmp_path):
    purge_queues()
    shared, reference = _project("synth-a"), _project("synth-b")
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    workers = [start_worker(f"w{n}", log, queues="model", env=ENV) for n, log in enumerate(logs)]
    try:
        job = synthesize_create(project=shared, user=None, params=PARAMS)  # autocommit: enqueued at once
        victim, shard = kill_a_worker_mid_shard(job, workers, logs)
        survivors = [w for w in workers if w is not victim]
        wait_for(lambda: job_ended(job), timeout=600, what="the job to end", proc=survivors[0], log=logs[0])
        assert job.status == "succeeded", job.error

        shard.refresh_from_db()
        assert shard.status == "done" and shard.attempts == 2 and f":{victim.pid}:" not in shard.worker
        assert f"shard {shard.index} re-claimed" in job.log_tail
        shards = list(JobShard.objects.filter(job=job))
        sampling = [s for s in shards if s.payload["phase"] == "sample"]
        responding = [s for s in shards if s.payload["phase"] == "respond"]
        assert len(sampling) == 6 and {s.status for s in shards} == {"done"}
        assert len(responding) == job.result["prompts_created"] > 0  # the second round, one prompt a shard
        assert len({s.worker for s in shards}) >= 2  # the work was shared
        assert job.progress_done == job.progress_total == PARAMS["n"] + job.result["prompts_created"]

        stop_worker(survivors[1])
        one = synthesize_create(project=reference, user=None, params=PARAMS)
        wait_for(lambda: job_ended(one), timeout=600, what="the one-worker job", proc=survivors[0], log=logs[0])
        assert one.status == "succeeded", one.error
        assert len({s.worker for s in JobShard.objects.filter(job=one)}) == 1
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
            stop_worker(proc)
        purge_queues()

    assert _instructions(job) == _instructions(one)
    assert len(_instructions(job)) == PARAMS["n"]
    assert _prompts(shared) == _prompts(reference)
    assert job.result == one.result
