"""Background jobs: create, claim, report progress, finish, cancel, recover.

Every long task in Docket (candidate generation, judging, encoding, audits,
synthesis, exports) is a :class:`~curation.models.Job` row run by one
function, ``runner.run_job``, which any Celery task, management command or
test calls with the job's primary key.

* ``services.job_create``: stores a queued job; only the kinds'
  ``<kind>_create`` services call it, after checking every parameter.
* ``registry.RUNNERS``: each kind's runner, ``fn(job, progress) -> result``,
  by explicit import.
* ``runner.run_job``: claims the job, runs its runner with a heartbeat, ends it.
* ``lifecycle``: the job row's writes (claim, progress, finish, fail,
  cancel) and :class:`~curation.jobs.lifecycle.JobProgress`, what a runner
  reports through::

      def run_export(job, progress):
          progress.set_total(len(batches))
          for batch in batches:
              ...                          # one committed unit of work
              progress.advance(1, message=f"wrote {n} rows")   # raises JobCancelled on cancel
          return {"rows": n}               # stored in job.result

* ``shards``: one job, many workers: a kind in ``registry.SHARDED`` is
  planned into :class:`~curation.models.JobShard` rows that every worker
  running the job claims (``SKIP LOCKED``, leased), each stored with its done
  mark, the job finished once by whoever completes its last shard.
* ``tasks``: the Celery tasks, ``job_enqueue`` and the recovery sweep.
* ``params``: parsing helpers the kinds' parameter checks share.
* ``selectors``, ``views``, ``urls``: the job pages, and the launch-page
  helper the kinds' own pages use.

Guarantees
    * Enqueued on commit (``delay_on_commit``), so a worker never sees a job
      row that is not there yet. Kinds in ``MODEL_KINDS`` go to the ``model``
      queue (task ``curation.tasks.model_run_job``), the rest to ``light``.
    * One run at a time: a worker starts a queued job with a conditional
      ``UPDATE … WHERE status='queued'``; whoever updates the row wins and
      gets a fresh ``lease_token``. Every later write of that run names the
      token, so a run that lost its lease cannot overwrite its successor.
      A sharded kind (encode, judge, generate) is the exception by design:
      one run plans it, then every run of it claims shards under their own
      leases, and one run finishes it (``shards``).
    * Crash recovery: a running job's ``heartbeat_at`` is refreshed every
      ``DOCKET_JOB_HEARTBEAT_SECONDS`` (10) by a thread and at every progress
      report. A job whose heartbeat is older than ``DOCKET_JOB_STALE_SECONDS``
      (60), or whose worker process is known to be dead (same host, its
      pid/start time gone), is taken over by the next ``run_job`` for it: a
      redelivered task (``acks_late`` + ``reject_on_worker_lost``), the sweep
      every worker runs when it starts (``worker_ready``) or the beat sweep
      every minute (``tasks.jobs_recover_stale``). Runners must therefore be
      idempotent: commit work in batches and skip what is already done
      (``progress.checkpoint`` keeps state across runs). After
      ``DOCKET_JOB_MAX_ATTEMPTS`` (3) runs that died the job fails instead of
      crash-looping a worker.
    * Cancel: a queued job is cancelled at once; a running one gets
      ``cancel_requested`` and stops at its next ``progress.advance`` /
      ``progress.check_cancelled`` (between batches) with status cancelled.
    * Errors: any exception fails the job with the traceback's tail in
      ``error``; the worker itself carries on. A runner that finds bad input
      it can explain raises ``lifecycle.JobFailed(message, result=…)``: the
      job fails with that message (no traceback) and the result is kept.
"""
