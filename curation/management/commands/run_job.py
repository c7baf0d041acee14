"""``python manage.py run_job JOB_UUID``: run or resume a job in this process
with a progress bar (what a worker would do), e.g. to finish a job by hand
when no worker is running."""

from __future__ import annotations

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from curation.jobs.runner import run_job
from curation.models import Job


def run_with_progress_bar(job: Job, *, stdout=None, stderr=None, quiet: bool = False) -> Job:
    """Run ``job`` here, drawing a tqdm bar from its progress; raise
    ``CommandError`` unless it succeeds. Returns the ended job."""
    from tqdm import tqdm

    bar = None if quiet else tqdm(total=0, unit="it", file=stderr or sys.stderr, dynamic_ncols=True, desc=job.kind)

    def on_progress(current: Job) -> None:
        if bar is None:
            return
        if bar.total != current.progress_total:
            bar.total = current.progress_total
        bar.n = current.progress_done
        bar.set_postfix_str(current.message[:60], refresh=False)
        bar.refresh()

    try:
        ended = run_job(job.pk, on_progress=on_progress)
    finally:
        if bar is not None:
            bar.close()
    if ended is None:
        job.refresh_from_db()
        raise CommandError(f"job {job.uuid} is {job.status}: another process holds it or it has ended")
    if ended.status == Job.Status.FAILED:
        raise CommandError(f"job {ended.uuid} failed:\n{ended.error}")
    if ended.status == Job.Status.CANCELLED:
        raise CommandError(f"job {ended.uuid} was cancelled: {ended.message}")
    return ended


class Command(BaseCommand):
    help = "Run (or resume) a queued or stalled job in this process, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("job", help="the job's uuid")

    def handle(self, *args, **options):
        try:
            job = Job.objects.get(uuid=options["job"])
        except (Job.DoesNotExist, ValidationError):
            raise CommandError(f"no job with uuid {options['job']!r}") from None
        ended = run_with_progress_bar(job, stderr=self.stderr._out)
        self.stdout.write(f"job {ended.uuid} {ended.status}: {ended.result}")
