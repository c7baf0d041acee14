"""A real Celery worker on Redis is SIGKILLed in the middle of a generation
job; a new worker resumes it (its start-up sweep sees the dead shard holder,
curation.jobs.shards) and the job ends with exactly what an uninterrupted run
of the same job produces.

Runs on the test database and Redis (the embedded ones when DATABASE_URL / REDIS_URL are unset)
with the default model.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from annotate.models import Item, Prompt, Response, content_hash
from curation.jobs.services import job_create
from curation.models import Job, JobShard, PromptGeneration
from tests.factories import ProjectFactory
from tests.worker import purge_queues as _purge_queues
from tests.worker import start_worker as _start_worker
from tests.worker import stop_worker as _stop
from tests.worker import wait_for as _wait

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {
    "per_prompt": 2,
    "max_new_tokens": 6,
    "temperature": 1.0,
    "top_p": 1.0,
    "seed": 11,
    "prompts_per_batch": 1,
    "kinds": ["pairwise", "thumb", "ranking", "judgment"],
}
QUESTIONS = [
    "What is the capital of France?",
    "Name a prime number.",
    "Write a haiku about rain.",
    "How do bees make honey?",
    "What is 7 times 8?",
    "Give me a synonym for happy.",
    "Why is the sky blue?",
    "Translate 'cat' into Spanish.",
    "What does a thermometer measure?",
    "Suggest a name for a goldfish.",
    "What colour are bananas?",
    "How many legs does a spider have?",
]


def _project_with_prompts(slug: str):
    project = ProjectFactory(slug=slug)
    for q in QUESTIONS:
        messages = [{"role": "user", "content": q}]
        Prompt.objects.create(project=project, messages=messages, content_hash=content_hash(messages))
    return project


def _snapshot(project) -> dict:
    responses = Response.objects.filter(prompt__project=project)
    return {
        "responses": responses.count(),
        "texts": sorted((r.prompt.content_hash, r.text) for r in responses.select_related("prompt")),
        "generations": PromptGeneration.objects.filter(prompt__project=project).count(),
        "items": dict(Counter(Item.objects.filter(project=project).values_list("kind", flat=True))),
        "item_hashes": sorted(Item.objects.filter(project=project).values_list("content_hash", flat=True)),
    }


def _job_state(pk):
    return Job.objects.filter(pk=pk).values("status", "progress_done", "progress_total").first()


@pytest.mark.django_db(transaction=True)
def test_sigkilled_worker_job_resumes_with_exact_counts(tmp_path):
    _purge_queues()
    crashed_project = _project_with_prompts("crash-a")
    reference_project = _project_with_prompts("crash-b")

    log1, log2 = tmp_path / "worker1.log", tmp_path / "worker2.log"
    worker1 = _start_worker("w1", log1)
    worker2 = None
    try:
        job = job_create(project=crashed_project, kind="generate", params=PARAMS)
        state = _wait(
            lambda: (s := _job_state(job.pk))["progress_done"] > 0 and s,
            timeout=400,
            what="the first batch",
            proc=worker1,
            log=log1,
        )
        assert state["status"] == "running"
        assert 0 < state["progress_done"] < state["progress_total"] == len(QUESTIONS)
        os.killpg(worker1.pid, signal.SIGKILL)
        worker1.wait(timeout=30)
        killed_at = _job_state(job.pk)
        assert killed_at["status"] == "running"
        assert killed_at["progress_done"] < len(QUESTIONS)
        partial = PromptGeneration.objects.filter(prompt__project=crashed_project).count()
        assert 0 < partial < len(QUESTIONS)

        # A new worker: its start-up sweep re-enqueues the job (the broker
        # would redeliver the unacknowledged task only after the visibility
        # timeout, hours away) and it resumes where the dead one stopped.
        worker2 = _start_worker("w2", log2)
        _wait(
            lambda: _job_state(job.pk)["status"] in Job.ENDED,
            timeout=400,
            what="the resumed job",
            proc=worker2,
            log=log2,
        )
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        # a shard the dead worker held (if it was killed inside one, not between two) was taken over
        # by the new worker; no other shard ran twice (test_shards_workers.py kills one inside a shard)
        retried = list(JobShard.objects.filter(job=job, attempts__gt=1).values_list("index", "attempts"))
        assert len(retried) <= 1 and all(attempts == 2 for _i, attempts in retried), retried
        assert all(f"shard {index} re-claimed" in job.log_tail for index, _a in retried)
        assert set(JobShard.objects.filter(job=job).values_list("status", flat=True)) == {"done"}
        assert job.attempts == 1  # the job was planned once
        assert "re-enqueued 1 job" in log2.read_text()

        # The same job, uninterrupted, on an identical project.
        reference = job_create(project=reference_project, kind="generate", params=PARAMS)
        _wait(
            lambda: _job_state(reference.pk)["status"] in Job.ENDED,
            timeout=400,
            what="the reference job",
            proc=worker2,
            log=log2,
        )
        reference.refresh_from_db()
        assert reference.status == "succeeded", reference.error
        assert reference.attempts == 1
    finally:
        _stop(worker1, signal.SIGKILL)
        if worker2 is not None:
            _stop(worker2)
        _purge_queues()

    crashed, expected = _snapshot(crashed_project), _snapshot(reference_project)
    assert crashed["generations"] == expected["generations"] == len(QUESTIONS)
    assert crashed["responses"] == expected["responses"]
    assert crashed["texts"] == expected["texts"]
    assert crashed["items"] == expected["items"]
    assert crashed["item_hashes"] == expected["item_hashes"]
    # K samples per prompt at most, none lost to the crash.
    per_prompt = Counter(Response.objects.filter(prompt__project=crashed_project).values_list("prompt", flat=True))
    assert set(per_prompt) == set(Prompt.objects.filter(project=crashed_project).values_list("pk", flat=True))
    assert max(per_prompt.values()) <= PARAMS["per_prompt"]
    assert job.result["responses_created"] == expected["responses"]
    assert job.result["items_created"] == expected["items"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
