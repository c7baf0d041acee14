"""Sharded jobs (curation.jobs.shards) without a model: claiming with SKIP
LOCKED, taking over a dead holder's shard, giving up on a crash-looping shard,
the finish handed to exactly one run, cancel, and the job page's shard line.
The same path with real workers and the real model: test_shards_workers.py."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from curation.jobs import registry
from curation.jobs.lifecycle import JobLost, job_cancel, job_start
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.jobs.shards import ShardSpec, shards_claim, shards_complete, shards_create
from curation.models import Job, JobShard


def _planned(project, n: int) -> Job:
    """A running job with ``n`` one-unit shards, as its planning run leaves it."""
    job = job_create(project=project, kind="encode", enqueue=False)
    job, token = job_start(job_id=job.pk)
    shards_create(job=job, token=token, plan=[({"n": i}, 1) for i in range(n)])
    job.refresh_from_db()
    return job


def _msg(job, done, total):
    return f"{done} of {total}"


@pytest.fixture
def counting(monkeypatch, no_heartbeat_thread):
    """The encode kind replaced by a spec that records what each phase did."""
    calls = {"plan": 0, "run": [], "finish": 0, "written": []}

    def plan(job, progress):
        calls["plan"] += 1
        return [({"items": [2 * i, 2 * i + 1]}, 2) for i in range(job.params.get("shards", 3))]

    def run(job, shards, progress):
        progress.message(f"running shard {shards[0].index}")
        calls["run"].append([s.index for s in shards])
        return lambda: calls["written"].extend(x for s in shards for x in s.payload["items"])

    def finish(job, progress):
        calls["finish"] += 1
        return {"written": len(calls["written"])}

    spec = ShardSpec(plan=plan, run=run, finish=finish, done_message=_msg)
    monkeypatch.setitem(registry.SHARDED, "encode", spec)
    return calls


def test_one_worker_runs_every_shard_in_order_and_finishes_once(project, counting):
    job = job_create(project=project, kind="encode", params={"shards": 3}, enqueue=False)
    seen = []
    ended = run_job(job.pk, on_progress=lambda j: seen.append((j.progress_done, j.progress_total, j.message)))
    assert ended.status == "succeeded", ended.error
    assert counting["plan"] == 1 and counting["finish"] == 1
    assert counting["run"] == [[0], [1], [2]] and counting["written"] == [0, 1, 2, 3, 4, 5]
    assert ended.result == {"written": 6}
    assert (ended.progress_done, ended.progress_total) == (6, 6)
    assert (2, 6, "2 of 6") in seen and (4, 6, "4 of 6") in seen
    assert "planned 3 shard(s) of 6 unit(s)" in ended.log_tail and "all 3 shard(s) done; finishing" in ended.log_tail
    assert {s.status for s in ended.shards.all()} == {"done"} and {s.attempts for s in ended.shards.all()} == {1}
    assert run_job(job.pk) is None  # ended: nothing to do, nothing run again
    assert counting["finish"] == 1


def test_more_adds_a_round_of_shards_that_runs_before_the_finish(project, counting, monkeypatch):
    spec = registry.SHARDED["encode"]
    rounds = []

    def more(job, progress):
        rounds.append(sorted(job.shards.values_list("index", "status")))
        if job.shards.filter(payload__round=2).exists():
            return []
        return [({"round": 2, "items": [10 + i]}, 1) for i in range(2)]

    fanned = []
    monkeypatch.setitem(registry.SHARDED, "encode", dataclasses.replace(spec, more=more))
    job = job_create(project=project, kind="encode", params={"shards": 2}, enqueue=False)
    ended = run_job(job.pk, fan_out=lambda j, n: fanned.append(n))
    assert ended.status == "succeeded", ended.error
    # more ran after the first round (both done), then after the second; the finish once, last
    assert rounds == [[(0, "done"), (1, "done")], [(0, "done"), (1, "done"), (2, "done"), (3, "done")]]
    assert counting["run"] == [[0], [1], [2], [3]] and counting["written"] == [0, 1, 2, 3, 10, 11]
    assert counting["finish"] == 1 and ended.result == {"written": 6}
    assert (ended.progress_done, ended.progress_total) == (6, 6)  # 4 units, then 2 more
    assert fanned == [2, 2]  # after planning, and after the round more added: idle workers join each
    assert "2 more shard(s) of 2 unit(s) planned" in ended.log_tail


def test_a_job_with_nothing_to_do_finishes_at_planning(project, counting):
    job = job_create(project=project, kind="encode", params={"shards": 0}, enqueue=False)
    ended = run_job(job.pk)
    assert ended.status == "succeeded" and counting["finish"] == 1 and counting["run"] == []
    assert ended.result == {"written": 0}


def test_a_shard_that_fails_fails_the_job_and_is_given_back(project, counting, monkeypatch):
    def broken(job, shards, progress):
        raise RuntimeError("the model ran out of memory")

    monkeypatch.setitem(registry.SHARDED, "encode", ShardSpec(plan=lambda j, p: [({}, 1)], run=broken, finish=dict))
    job = job_create(project=project, kind="encode", enqueue=False)
    ended = run_job(job.pk)
    assert ended.status == "failed" and "the model ran out of memory" in ended.error
    assert list(ended.shards.values_list("status", "lease_token")) == [("pending", None)]


def test_cancel_stops_before_the_next_shard(project, counting):
    job = job_create(project=project, kind="encode", params={"shards": 4}, enqueue=False)

    def cancel_after_first(current):
        if current.progress_done >= 2:
            job_cancel(job=Job.objects.get(pk=current.pk))

    ended = run_job(job.pk, on_progress=cancel_after_first)
    assert ended.status == "cancelled" and counting["finish"] == 0
    assert counting["run"] == [[0]] and ended.progress_done == 2
    assert list(ended.shards.values_list("status", flat=True)) == ["done", "pending", "pending", "pending"]


@pytest.mark.django_db(transaction=True)
def test_a_shard_locked_by_another_claim_is_skipped_not_waited_for(no_heartbeat_thread):
    from tests.factories import ProjectFactory

    job = _planned(ProjectFactory(), 3)
    got = {}
    with transaction.atomic():
        # another worker's claim transaction, in flight, holds shard 0's row lock
        JobShard.objects.select_for_update().filter(job=job, index=0).get()

        def claim():
            try:
                got["shards"] = [s.index for s in shards_claim(job=job, token=uuid.uuid4(), limit=1)]
            finally:
                connection.close()

        thread = threading.Thread(target=claim)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the claim waited on a locked shard"
    assert got["shards"] == [1]


def test_a_dead_holders_shard_is_claimed_again_a_live_ones_is_not(project, no_heartbeat_thread, settings):

    job = _planned(project, 2)
    stale = timezone.now() - timedelta(seconds=settings.DOCKET_JOB_STALE_SECONDS + 1)
    live_token, dead_token = uuid.uuid4(), uuid.uuid4()
    JobShard.objects.filter(job=job, index=0).update(
        status="running", worker="elsewhere:1:1", lease_token=live_token, heartbeat_at=timezone.now(), attempts=1
    )
    JobShard.objects.filter(job=job, index=1).update(
        status="running", worker="elsewhere:2:2", lease_token=dead_token, heartbeat_at=stale, attempts=1
    )
    mine = uuid.uuid4()
    claimed = shards_claim(job=job, token=mine, limit=5)
    assert [(s.index, s.attempts, s.lease_token) for s in claimed] == [(1, 2, mine)]
    job.refresh_from_db()
    assert "shard 1 re-claimed" in job.log_tail and "elsewhere:2:2" in job.log_tail
    # the dead holder, should it come back, cannot store its work or mark the shard done
    stale_shard = JobShard.objects.get(job=job, index=1)
    stale_shard.lease_token = dead_token
    written = []
    with pytest.raises(JobLost, match="taken over"):
        shards_complete(
            job=job, shards=[stale_shard], token=dead_token, write=lambda: written.append(1), done_message=_msg
        )
    assert written == [] and JobShard.objects.get(job=job, index=1).status == "running"
    assert JobShard.objects.get(job=job, index=1).lease_token == mine


def test_a_shard_whose_workers_keep_dying_fails_the_job(project, no_heartbeat_thread, settings):

    job = _planned(project, 1)
    JobShard.objects.filter(job=job).update(
        status="running", worker="elsewhere:1:1", lease_token=uuid.uuid4(), heartbeat_at=None, attempts=3
    )
    with pytest.raises(JobLost):
        shards_claim(job=job, token=uuid.uuid4())
    job.refresh_from_db()
    assert job.status == "failed" and "the workers running shard 0 died 3 times" in job.error


@pytest.mark.django_db(transaction=True)
def test_only_one_run_gets_the_finish_when_the_last_shards_complete_together(no_heartbeat_thread):

    from tests.factories import ProjectFactory

    job = _planned(ProjectFactory(), 2)
    tokens = [uuid.uuid4(), uuid.uuid4()]
    claims = [shards_claim(job=job, token=t, limit=1) for t in tokens]
    assert [c[0].index for c in claims] == [0, 1]
    results, barrier = [], threading.Barrier(2)

    def complete(shards, token):
        try:
            barrier.wait()
            results.append(shards_complete(job=job, shards=shards, token=token, write=None, done_message=_msg))
        finally:
            connection.close()

    threads = [threading.Thread(target=complete, args=(c, t)) for c, t in zip(claims, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 2 and sum(r is not None for r in results) == 1
    job.refresh_from_db()
    assert job.lease_token == next(r for r in results if r is not None) and job.progress_done == 2


def test_job_page_shows_the_shards(client, project, personas, no_heartbeat_thread):

    job = _planned(project, 3)
    JobShard.objects.filter(job=job, index=0).update(status="done", attempts=2)
    JobShard.objects.filter(job=job, index=1).update(
        status="running", worker="gpu-7:4242:99", lease_token=uuid.uuid4(), heartbeat_at=timezone.now(), attempts=1
    )
    client.force_login(personas["curator"])
    html = client.get(reverse("jobs:detail", args=[project.slug, job.uuid]), HTTP_HX_REQUEST="true").content.decode()
    assert (
        "Shards: 1 of 3 done, 1 running on 1 worker (gpu-7:4242), 1 waiting; 1 re-claimed after a worker stopped."
        in html
    )


def test_fan_out_enqueues_one_task_per_extra_worker_up_to_the_setting(project, settings, monkeypatch):
    from curation.jobs import tasks

    sent = []
    monkeypatch.setattr(tasks, "job_enqueue", lambda *, job: sent.append(job.pk))
    job = job_create(project=project, kind="encode", enqueue=False)
    settings.DOCKET_JOB_FANOUT = 2
    tasks.job_fan_out(job, 5)
    assert sent == [job.pk, job.pk]  # capped by the setting
    sent.clear()
    tasks.job_fan_out(job, 1)  # one shard: the planning worker is enough
    settings.DOCKET_JOB_FANOUT = 32
    tasks.job_fan_out(job, 3)
    assert sent == [job.pk, job.pk]
    sent.clear()
    settings.CELERY_TASK_ALWAYS_EAGER = True  # a task would run inline, inside the planning one
    tasks.job_fan_out(job, 3)
    assert sent == []


def test_the_recovery_sweep_sends_a_worker_to_a_sharded_job_nobody_alive_works_on(project, monkeypatch, settings):
    """A worker killed mid-shard while the job's heartbeat is still fresh: the sweep
    (worker start, beat) sees the dead holder (its process gone on this host) at once."""
    import subprocess

    from curation.jobs import tasks
    from curation.jobs.lifecycle import worker_identity

    enqueued = []
    monkeypatch.setattr(tasks, "job_enqueue", lambda *, job: enqueued.append(job.pk))
    busy, orphaned, idle = _planned(project, 2), _planned(project, 2), _planned(project, 2)
    now = timezone.now()
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = worker_identity().split(":")[0]
    JobShard.objects.filter(job=busy, index=0).update(
        status="running", worker=worker_identity(), lease_token=uuid.uuid4(), heartbeat_at=now
    )
    JobShard.objects.filter(job=orphaned, index=0).update(
        status="running", worker=f"{host}:{gone.pid}:123", lease_token=uuid.uuid4(), heartbeat_at=now
    )
    Job.objects.filter(pk__in=[busy.pk, orphaned.pk, idle.pk]).update(heartbeat_at=now)  # the job rows look alive
    recovered = tasks.jobs_recover_stale()
    # busy: a live holder; orphaned: its holder's process is gone; idle: waiting shards, nobody on them
    assert sorted(j.pk for j in recovered) == sorted(enqueued) == sorted([orphaned.pk, idle.pk])


def test_the_api_shows_a_sharded_jobs_shards_and_null_for_others(project, personas, no_heartbeat_thread):
    from rest_framework.test import APIClient

    job = _planned(project, 2)
    JobShard.objects.filter(job=job, index=0).update(status="done")
    other = job_create(project=project, kind="export", enqueue=False)
    client = APIClient()
    client.force_authenticate(personas["curator"])
    body = client.get(f"/api/v1/jobs/{job.uuid}/").json()
    assert body["shards"] == {"total": 2, "done": 1, "running": 0, "waiting": 1, "workers": [], "reclaimed": 0}
    assert body["progress"] == {"done": 0, "total": 2, "percent": 0}
    assert client.get(f"/api/v1/jobs/{other.uuid}/").json()["shards"] is None
