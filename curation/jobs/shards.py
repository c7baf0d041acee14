"""One job, many workers: the shard rows' writes and what a shard's work reports through.

A kind whose work splits into independent slices (encode: 32 prompts a
slice) registers a :class:`ShardSpec` in ``curation.jobs.registry.SHARDED``.
``runner.run_job`` then runs it in three phases, one code path whatever the
number of workers (a one-worker run is the same path with one worker):

1. **Plan** (once, by the run that claims the queued job with
   ``lifecycle.job_start``): ``spec.plan(job, progress)`` returns the shards'
   payloads and progress units; they are stored as :class:`~curation.models.JobShard`
   rows in the same transaction that sets the job's total. A run started by a
   Celery task then enqueues more tasks for the job (``DOCKET_JOB_FANOUT``, 32)
   so idle workers join.
2. **Shards** (every run of the job, on any number of workers, on one machine
   or many): :func:`shards_claim` takes pending shards with ``SELECT … FOR
   UPDATE SKIP LOCKED`` under a fresh lease; ``spec.run(job, shards, progress)``
   does the work and returns the shard's writes as a function, which
   :func:`shards_complete` runs in one transaction with the shards' ``done``
   mark (conditional on the lease) and the job's progress, so a shard's work is
   stored exactly once. A shard whose holder stopped heartbeating for
   ``DOCKET_JOB_STALE_SECONDS`` (or whose process is gone on this host) is
   claimed again; after ``DOCKET_JOB_MAX_ATTEMPTS`` dead holders the job fails.
   A run with nothing left to claim waits for the shards others hold (and takes
   any whose holder dies) until the job ends.
3. **Finish** (once): the transaction that marks the job's last shard done also
   hands that run the job's lease; it runs ``spec.finish(job, progress)`` (the
   result, and anything that must follow the job) and ends the job. A finisher
   that dies is taken over like any dead run (``lifecycle.job_start``).

   A kind whose work has a cross-shard step between two rounds of shards
   (synthesize: de-duplicate every sample against the others, then sample
   responses for the accepted ones) gives ``spec.more``: the finisher runs it
   first, holding the job's lease; a non-empty plan is stored as a further
   round of shards (:func:`shards_extend`, indices continuing, the job's total
   grown) that every worker runs like the first, and the finisher of that
   round calls ``more`` again. ``finish`` runs once ``more`` returns nothing.

Progress, log, message and cancel are the job row's, written by every worker:
``progress_done`` is the sum of the done shards' units, the log tail is
appended under a row lock, and a cancel stops every worker before its next
shard (the last one to stop marks the job cancelled).
"""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from curation.jobs.lifecycle import (
    ERROR_TAIL_CHARS,
    LOG_TAIL_LINES,
    TICK_WRITE_SECONDS,
    JobCancelled,
    JobLost,
    _worker_is_dead,
    max_attempts,
    stale_seconds,
    worker_identity,
)
from curation.models import Job, JobShard

# How often a run with nothing to claim looks again while other workers hold the job's last shards.
SHARD_POLL_SECONDS = 1.0


def _one_per_claim(job: Job) -> int:
    return 1


@dataclass(frozen=True)
class ShardSpec:
    """How a kind's work splits into shards.

    * ``plan(job, progress) -> [(payload, units), …]``: the shards, in order;
      run once per job holding its lease (``progress`` is a :class:`JobProgress`,
      its checkpoint is where state every shard reads goes).
    * ``run(job, shards, progress) -> write | None``: a claimed batch of shards'
      work; returns the function that stores it (run in the transaction that
      marks the shards done) or None when it stored nothing. ``write`` may
      return ``{shard index: dict}``, kept as each shard's ``result`` (what
      ``finish`` adds up). ``progress`` is a
      :class:`ShardProgress`. It must not write the job's own rows itself.
    * ``finish(job, progress) -> result``: once, after the last shard is done.
    * ``more(job, progress) -> [(payload, units), …]`` (optional): run by the
      finisher before ``finish``, holding the job's lease; a non-empty list is
      a further round of shards (see the module docstring). It must be safe to
      run again (a finisher that dies is taken over) and must return ``[]``
      once its rounds are planned (read the job's shards to know).
    * ``done_message(job, done, total) -> str``: the job's message after a shard.
    * ``shards_per_claim(job) -> int``: how many shards a worker takes at once
      (e.g. more on a GPU, whose batches are larger).
    """

    plan: Callable
    run: Callable
    finish: Callable
    done_message: Callable = field(default=lambda job, done, total: f"{done} of {total} done")
    shards_per_claim: Callable = field(default=_one_per_claim)
    more: Callable | None = None


def fanout() -> int:
    return max(0, int(getattr(settings, "DOCKET_JOB_FANOUT", 32)))


def worker_label() -> str:
    """``host:pid`` of this process, for log lines."""
    return worker_identity().rsplit(":", 1)[0]


def shard_is_dead(shard: JobShard, *, now=None) -> bool:
    """Whether a running shard's holder stopped: heartbeat too old, or its process gone on this host."""
    now = now or timezone.now()
    if shard.heartbeat_at is None or shard.heartbeat_at < now - timedelta(seconds=stale_seconds()):
        return True
    return shard.worker != worker_identity() and _worker_is_dead(shard.worker)


def job_needs_workers(job: Job, *, now=None) -> bool:
    """Whether a running sharded job has work nobody alive is doing: a shard
    whose holder died, or waiting shards while no live worker holds any (the
    recovery sweep then enqueues a task so a worker joins)."""
    if job.status != Job.Status.RUNNING:
        return False
    now = now or timezone.now()
    running = list(JobShard.objects.filter(job=job, status=JobShard.Status.RUNNING))
    if any(shard_is_dead(s, now=now) for s in running):
        return True
    return not running and JobShard.objects.filter(job=job, status=JobShard.Status.PENDING).exists()


# ---------------------------------------------------------------- services


def job_log_append(*, job_pk: int, lines: list[str]) -> str:
    """Append stamped lines to a job's log tail under a row lock (many workers write it); returns the tail."""
    stamp = timezone.now().strftime("%H:%M:%S")
    with transaction.atomic():
        tail = Job.objects.select_for_update().filter(pk=job_pk).values_list("log_tail", flat=True).first() or ""
        kept = collections.deque(tail.splitlines(), maxlen=LOG_TAIL_LINES)
        for line in lines:
            for part in str(line).splitlines() or [""]:
                kept.append(f"{stamp} {part}")
        text = "\n".join(kept)
        Job.objects.filter(pk=job_pk).update(log_tail=text)
    return text


def shards_create(*, job: Job, token: uuid.UUID, plan: list[tuple[dict, int]]) -> int:
    """Store a job's shards and its total in one transaction, as the run holding ``token``."""
    with transaction.atomic():
        won = Job.objects.filter(pk=job.pk, lease_token=token, status=Job.Status.RUNNING).update(
            progress_total=sum(units for _payload, units in plan),
            progress_done=0,
            worker="",  # from here on many workers: liveness is the heartbeat alone
            heartbeat_at=timezone.now(),
            message=f"{len(plan)} shard(s) waiting for workers",
        )
        if not won:
            raise JobLost(f"job {job.uuid} is no longer held by this run")
        JobShard.objects.bulk_create(
            JobShard(job=job, index=n, payload=payload, units=units) for n, (payload, units) in enumerate(plan)
        )
    return len(plan)


def shards_extend(*, job: Job, token: uuid.UUID, plan: list[tuple[dict, int]]) -> int:
    """Add a further round of shards to a running job (``ShardSpec.more``) as the run holding ``token``:
    indices continue after the last shard's, the job's total grows by their units."""
    with transaction.atomic():
        start = (JobShard.objects.filter(job=job).order_by("-index").values_list("index", flat=True).first() or 0) + 1
        won = Job.objects.filter(pk=job.pk, lease_token=token, status=Job.Status.RUNNING).update(
            progress_total=F("progress_total") + sum(units for _payload, units in plan),
            worker="",  # many workers again: liveness is the heartbeat alone
            heartbeat_at=timezone.now(),
            message=f"{len(plan)} more shard(s) waiting for workers",
        )
        if not won:
            raise JobLost(f"job {job.uuid} is no longer held by this run")
        JobShard.objects.bulk_create(
            JobShard(job=job, index=start + n, payload=payload, units=units) for n, (payload, units) in enumerate(plan)
        )
    return len(plan)


def shards_claim(*, job: Job, token: uuid.UUID, limit: int = 1, now=None) -> list[JobShard]:
    """Take up to ``limit`` shards of ``job``: waiting ones first, then ones whose holder died.

    Rows another worker is claiming at the same moment are skipped (``SKIP
    LOCKED``), so any number of workers claim concurrently without waiting on
    each other. Raises :class:`JobLost` (after failing the job) when a shard's
    holders died ``DOCKET_JOB_MAX_ATTEMPTS`` times.
    """
    now = now or timezone.now()
    dead = Q(pk__in=[])
    for shard in JobShard.objects.filter(job=job, status=JobShard.Status.RUNNING):
        if shard_is_dead(shard, now=now):
            dead |= Q(pk=shard.pk, lease_token=shard.lease_token)  # only if nobody re-claimed it meanwhile
    with transaction.atomic():
        picked = list(
            JobShard.objects.select_for_update(skip_locked=True)
            .filter(job=job)
            .filter(Q(status=JobShard.Status.PENDING) | (Q(status=JobShard.Status.RUNNING) & dead))
            .order_by("index")[: max(1, limit)]
        )
        if not picked:
            return []
        tired = next((s for s in picked if s.status == JobShard.Status.RUNNING and s.attempts >= max_attempts()), None)
        if tired is None:
            JobShard.objects.filter(pk__in=[s.pk for s in picked]).update(
                status=JobShard.Status.RUNNING,
                worker=worker_identity(),
                lease_token=token,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
                started_at=Coalesce(F("started_at"), now),
            )
    if tired is not None:
        job_fail_shared(job=job, error=f"Gave up: the workers running shard {tired.index} died {tired.attempts} times.")
        raise JobLost(f"job {job.uuid} failed: shard {tired.index} crash-looped")
    reclaimed = [s for s in picked if s.status == JobShard.Status.RUNNING]
    if reclaimed:
        job_log_append(
            job_pk=job.pk,
            lines=[
                f"shard {s.index} re-claimed by {worker_label()} after its worker stopped ({s.worker or 'unknown'})"
                for s in reclaimed
            ],
        )
    return list(JobShard.objects.filter(pk__in=[s.pk for s in picked]).order_by("index"))


def shards_complete(
    *, job: Job, shards: list[JobShard], token: uuid.UUID, write: Callable[[], None] | None, done_message: Callable
) -> uuid.UUID | None:
    """Store a claimed batch's work and mark its shards done, in one transaction.

    Refused (:class:`JobLost`, nothing stored) when this run no longer holds
    every shard's lease or the job has ended. Returns a fresh job lease token
    when these were the job's last shards: this run then finishes the job (and
    nobody else can, while its heartbeat lives).
    """
    now = timezone.now()
    ids = [s.pk for s in shards]
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk, status=Job.Status.RUNNING).first()
        if locked is None:
            raise JobLost(f"job {job.uuid} has ended")
        marked = JobShard.objects.filter(pk__in=ids, lease_token=token, status=JobShard.Status.RUNNING).update(
            status=JobShard.Status.DONE, finished_at=now, heartbeat_at=now
        )
        if marked != len(ids):
            raise JobLost(f"shard(s) of job {job.uuid} were taken over by another worker")
        reported = write() if write is not None else None
        for shard in shards:
            if reported and shard.index in reported:
                JobShard.objects.filter(pk=shard.pk).update(result=reported[shard.index])
        done = min(locked.progress_done + sum(s.units for s in shards), locked.progress_total)
        fields = {
            "progress_done": done,
            "heartbeat_at": now,
            "message": done_message(locked, done, locked.progress_total)[:500],
        }
        finishing = None
        if not JobShard.objects.filter(job=job).exclude(status=JobShard.Status.DONE).exists():
            finishing = uuid.uuid4()
            fields.update(lease_token=finishing, worker=worker_identity())
        Job.objects.filter(pk=job.pk).update(**fields)
    return finishing


def shards_release(*, shards: list[JobShard], token: uuid.UUID) -> None:
    """Give claimed shards back (cancel, error): another run may take them."""
    JobShard.objects.filter(pk__in=[s.pk for s in shards], lease_token=token, status=JobShard.Status.RUNNING).update(
        status=JobShard.Status.PENDING, lease_token=None, worker="", heartbeat_at=None
    )


def job_fail_shared(*, job: Job, error: str, message: str | None = None) -> bool:
    """Fail a running sharded job (any worker may: it holds shard leases, not the job's)."""
    now = timezone.now()
    message = message or (error.splitlines() or ["Failed"])[-1]
    return bool(
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED,
            finished_at=now,
            heartbeat_at=now,
            error=error[-ERROR_TAIL_CHARS:],
            message=message[:500],
        )
    )


def job_cancel_if_idle(*, job: Job) -> bool:
    """End a sharded job whose cancel was requested once no live worker holds a shard of it.

    Every worker calls this as it stops for the cancel; the last one ends the job."""
    now = timezone.now()
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk, status=Job.Status.RUNNING).first()
        if locked is None:
            return False
        held = JobShard.objects.filter(job=job, status=JobShard.Status.RUNNING)
        if any(not shard_is_dead(s, now=now) for s in held):
            return False
        return bool(
            Job.objects.filter(pk=job.pk).update(
                status=Job.Status.CANCELLED, finished_at=now, heartbeat_at=now, message="Cancelled"
            )
        )


# ---------------------------------------------------------------- reporting


class ShardProgress:
    """What ``ShardSpec.run`` reports through: the job's message, log and
    cancel, refreshing the claimed shards' and the job's heartbeat. It offers
    the :class:`JobProgress` calls a model step uses (``message``, ``tick``,
    ``log``, ``check_cancelled``, ``checkpoint``); progress counts are the
    shards', written when they complete."""

    def __init__(self, job: Job, shards: list[JobShard], token: uuid.UUID, on_progress=None):
        self.job = job
        self.shards = shards
        self.token = token
        self.on_progress = on_progress
        self._last_tick = 0.0

    @property
    def checkpoint(self) -> dict:
        return self.job.checkpoint

    def _write(self, message: str | None = None) -> bool:
        now = timezone.now()
        ids = [s.pk for s in self.shards]
        held = JobShard.objects.filter(pk__in=ids, lease_token=self.token, status=JobShard.Status.RUNNING)
        if held.update(heartbeat_at=now) != len(ids):
            raise JobLost(f"shard(s) of job {self.job.uuid} were taken over by another worker")
        fields = {"heartbeat_at": now}
        if message is not None:
            fields["message"] = message[:500]
        if not Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).update(**fields):
            raise JobLost(f"job {self.job.uuid} has ended")
        return self.refresh()

    def refresh(self) -> bool:
        """Read the job's shared state back (for ``on_progress``); returns ``cancel_requested``."""
        row = (
            Job.objects.filter(pk=self.job.pk)
            .values("progress_done", "progress_total", "message", "cancel_requested", "status", "log_tail")
            .first()
        )
        for name, value in (row or {}).items():
            setattr(self.job, name, value)
        if self.on_progress is not None:
            self.on_progress(self.job)
        return bool(self.job.cancel_requested)

    def message(self, text: str) -> None:
        self._write(text)

    def tick(self, text: str | None = None) -> None:
        now = time.monotonic()
        if now - self._last_tick >= TICK_WRITE_SECONDS:
            self._last_tick = now
            self._write(text)

    def log(self, line: str) -> None:
        job_log_append(job_pk=self.job.pk, lines=[f"[{worker_label()}] {part}" for part in str(line).splitlines()])
        self._write()

    def check_cancelled(self) -> None:
        if self._write():
            raise JobCancelled()
