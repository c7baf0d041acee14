"""The job service: claim, progress, cancel between batches, failure, takeover
of a dead run, lease loss, recovery sweep and enqueueing on commit."""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from curation.jobs import lifecycle as jobs
from curation.jobs import registry, tasks
from curation.jobs.lifecycle import JobCancelled, JobLost, job_cancel, job_progress, job_start
from curation.jobs.runner import run_job
from curation.jobs.services import job_create
from curation.jobs.tasks import jobs_recover_stale
from curation.models import Job

pytestmark = pytest.mark.usefixtures("no_heartbeat_thread")


@pytest.fixture
def runners(monkeypatch):
    """Fake runners for the test only (kind 'audit' and 'export'): the registry is a copy."""
    monkeypatch.setattr(registry, "RUNNERS", dict(registry.RUNNERS))
    return registry.RUNNERS


def register(kind):
    def wrap(fn):
        registry.RUNNERS[kind] = fn
        return fn

    return wrap


def test_run_job_reports_progress_and_result(project, runners):
    seen = []

    @register("audit")
    def runner(job, progress):
        progress.set_total(4, message="starting")
        for i in range(4):
            seen.append(Job.objects.get(pk=job.pk).progress_done)
            progress.advance(1, message=f"batch {i + 1}")
        progress.log("all batches written")
        return {"rows": 4}

    job = job_create(project=project, kind="audit", params={"x": 1}, enqueue=False)
    assert job.status == "queued"
    ended = run_job(job.pk)
    assert ended.status == "succeeded"
    assert seen == [0, 1, 2, 3]  # each batch's progress was in the row before the next started
    assert (ended.progress_done, ended.progress_total) == (4, 4)
    assert ended.percent == 100
    assert ended.result == {"rows": 4}
    assert ended.message == "Done"
    assert "all batches written" in ended.log_tail
    assert "attempt 1: started" in ended.log_tail
    assert ended.started_at <= ended.finished_at
    assert ended.attempts == 1
    assert ended.error == ""
    # An ended job is never run again.
    assert run_job(job.pk) is None


def test_cancel_is_honoured_between_batches(project, runners):
    batches_run = []

    @register("audit")
    def runner(job, progress):
        progress.set_total(10)
        for i in range(10):
            batches_run.append(i)
            if i == 2:
                # A curator presses Cancel while batch 2 is being written.
                job_cancel(job=Job.objects.get(pk=job.pk))
            progress.advance(1)
        return {}

    job = job_create(project=project, kind="audit", enqueue=False)
    ended = run_job(job.pk)
    assert ended.status == "cancelled"
    assert batches_run == [0, 1, 2]  # batch 3 never started
    assert ended.progress_done == 3
    assert ended.cancel_requested
    assert ended.finished_at is not None
    assert "cancelled on request" in ended.log_tail


def test_cancel_before_start(project, runners):
    called = []
    register("audit")(lambda job, progress: called.append(1))
    job = job_create(project=project, kind="audit", enqueue=False)
    job = job_cancel(job=job)
    assert job.status == "cancelled"
    assert run_job(job.pk) is None
    assert called == []


def test_failure_stores_traceback_tail(project, runners):
    @register("audit")
    def runner(job, progress):
        progress.set_total(3)
        progress.advance(1)
        raise ValueError("prompt 17 has no user message")

    job = job_create(project=project, kind="audit", enqueue=False)
    ended = run_job(job.pk)
    assert ended.status == "failed"
    assert "Traceback" in ended.error
    assert "ValueError: prompt 17 has no user message" in ended.error
    assert "failed: ValueError" in ended.log_tail
    assert ended.progress_done == 1


def test_missing_runner_fails_the_job(project, runners):
    runners.pop("export", None)
    job = job_create(project=project, kind="export", enqueue=False)
    ended = run_job(job.pk)
    assert ended.status == "failed"
    assert "No runner is registered for job kind 'export'" in ended.error


def test_unknown_kind_is_refused(project):
    with pytest.raises(ValueError, match="kind: unknown job kind 'bake'"):
        job_create(project=project, kind="bake", enqueue=False)


def test_log_tail_keeps_the_last_lines(project, runners):
    @register("audit")
    def runner(job, progress):
        for i in range(80):
            progress.log(f"line {i}")
        return {}

    ended = run_job(job_create(project=project, kind="audit", enqueue=False).pk)
    lines = ended.log_tail.splitlines()
    assert len(lines) == jobs.LOG_TAIL_LINES
    assert lines[-1].endswith("line 79")
    assert lines[0].endswith(f"line {80 - jobs.LOG_TAIL_LINES}")


def test_live_run_is_not_taken_over(project):
    job = job_create(project=project, kind="audit", enqueue=False)
    first = job_start(job_id=job.pk)
    assert first is not None
    # A second delivery of the task while the first run is alive and heartbeating.
    assert job_start(job_id=job.pk) is None
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_stale_run_is_taken_over_and_old_run_loses_its_lease(project, runners):
    job = job_create(project=project, kind="audit", enqueue=False)
    _job, old_token = job_start(job_id=job.pk)
    # The worker stops heartbeating (killed, or the machine is gone).
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=jobs.stale_seconds() + 5), worker="elsewhere:1:1"
    )
    ran = []
    register("audit")(lambda job, progress: ran.append(job.attempts) or {"resumed": True})
    ended = run_job(job.pk)
    assert ended.status == "succeeded"
    assert ran == [2]
    assert ended.result == {"resumed": True}
    assert "resumed after its worker stopped (elsewhere:1:1)" in ended.log_tail
    # The old run comes back to life: every write it makes is refused.
    with pytest.raises(JobLost):
        job_progress(job=ended, token=old_token, done=1)


def test_dead_process_on_this_host_is_taken_over_at_once(project, runners):
    proc = subprocess.Popen(["sleep", "30"])
    identity = f"{jobs.socket.gethostname()}:{proc.pid}:{jobs._process_start_time(proc.pid)}"
    job = job_create(project=project, kind="audit", enqueue=False)
    job_start(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(worker=identity, heartbeat_at=timezone.now())
    job.refresh_from_db()
    assert not jobs.job_run_is_dead(job)  # alive and heartbeating: leave it alone
    proc.kill()
    proc.wait()
    assert jobs.job_run_is_dead(job)  # heartbeat fresh, but its process is gone
    register("audit")(lambda job, progress: {"ok": 1})
    assert run_job(job.pk).status == "succeeded"


def test_gives_up_after_max_attempts(project, settings):
    settings.DOCKET_JOB_MAX_ATTEMPTS = 2
    job = job_create(project=project, kind="audit", enqueue=False)
    stale = timezone.now() - timedelta(hours=1)
    for attempt in (1, 2):
        assert job_start(job_id=job.pk) is not None
        assert Job.objects.get(pk=job.pk).attempts == attempt
        Job.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    assert job_start(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == "failed"
    assert "died 2 times" in job.error


def test_cancel_of_a_dead_running_job_ends_it(project):
    job = job_create(project=project, kind="audit", enqueue=False)
    job_start(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    job = job_cancel(job=Job.objects.get(pk=job.pk))
    assert job.status == "cancelled"


def test_recover_sweep_enqueues_only_dead_runs(project, monkeypatch):
    enqueued = []
    monkeypatch.setattr(tasks, "job_enqueue", lambda *, job: enqueued.append(job.pk))
    alive = job_create(project=project, kind="generate", enqueue=False)
    dead = job_create(project=project, kind="generate", enqueue=False)
    queued = job_create(project=project, kind="generate", enqueue=False)
    job_start(job_id=alive.pk)
    job_start(job_id=dead.pk)
    Job.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    recovered = jobs_recover_stale()
    assert [j.pk for j in recovered] == [dead.pk]
    assert enqueued == [dead.pk]
    assert Job.objects.get(pk=queued.pk).status == "queued"


@pytest.mark.parametrize(("kind", "task_name"), [("generate", "model_run_job"), ("export", "light_run_job")])
def test_job_create_enqueues_on_commit_by_queue(
    project, monkeypatch, django_capture_on_commit_callbacks, kind, task_name
):
    sent = []
    for name in ("model_run_job", "light_run_job"):
        monkeypatch.setattr(getattr(tasks, name), "delay", lambda *a, _n=name, **k: sent.append((_n, a)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = job_create(project=project, kind=kind)
    assert sent == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent == [(task_name, (job.pk,))]


def test_routes_send_model_tasks_to_the_model_queue():
    from config.celery import app

    router = app.amqp.router
    assert router.route({}, "curation.tasks.model_run_job")["queue"].name == "model"
    assert router.route({}, "curation.tasks.light_run_job")["queue"].name == "light"


@pytest.mark.django_db(transaction=True)
def test_heartbeat_thread_refreshes_a_long_batch(project, runners, settings):
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 1
    beats = []

    @register("audit")
    def runner(job, progress):
        first = Job.objects.get(pk=job.pk).heartbeat_at
        time.sleep(2.6)  # one long batch with no progress report
        beats.append(Job.objects.get(pk=job.pk).heartbeat_at - first)
        return {}

    ended = run_job(job_create(project=project, kind="audit", enqueue=False).pk)
    assert ended.status == "succeeded"
    assert beats[0] >= timedelta(seconds=1.5)


def test_job_cancelled_is_an_exception_runners_can_raise(project, runners):
    @register("audit")
    def runner(job, progress):
        raise JobCancelled()

    assert run_job(job_create(project=project, kind="audit", enqueue=False).pk).status == "cancelled"


def test_lost_lease_is_detected_by_progress(project):
    job = job_create(project=project, kind="audit", enqueue=False)
    job, token = job_start(job_id=job.pk)
    with pytest.raises(JobLost):
        job_progress(job=job, token=uuid.uuid4(), done=1)


def test_beat_sweeps_for_stale_jobs_with_a_registered_task(settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["recover-stale-jobs"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"] <= jobs.stale_seconds()


def test_broker_down_leaves_the_job_queued_with_a_message(project, monkeypatch, django_capture_on_commit_callbacks):
    def unreachable(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.model_run_job, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(project=project, kind="generate")
    job.refresh_from_db()
    assert job.status == "queued"
    assert "Could not reach the task queue (ConnectionError)" in job.message
