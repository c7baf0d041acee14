"""Shared shape of the job management commands: resolve the project, create
the job, then run it here with a progress bar or hand it to a worker."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotate.models import Project
from curation.jobs.lifecycle import job_create
from curation.management.commands.run_job import run_with_progress_bar


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class JobCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        self.add_job_arguments(parser)
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--sync", action="store_true", help="run in this process with a progress bar (the default)")
        mode.add_argument(
            "--enqueue", action="store_true", help="hand the job to a Celery worker and print its id instead"
        )
        parser.add_argument("--user", help="record this username as the job's creator")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def add_job_arguments(self, parser):  # pragma: no cover - overridden
        pass

    def job_params(self, project, options) -> dict:  # pragma: no cover - overridden
        return {}

    def describe(self, job) -> str:
        return str(job.result)

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        user = None
        if options.get("user"):
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user: no user named {options['user']!r}")
        try:
            params = self.job_params(project, options)
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from None
        enqueue = bool(options.get("enqueue"))
        with transaction.atomic():
            job = job_create(project=project, kind=self.kind, params=params, user=user, enqueue=enqueue)
        if enqueue:
            self.stdout.write(f"queued {self.kind} job {job.uuid}")
            return
        ended = run_with_progress_bar(job, stderr=self.stderr._out, quiet=options.get("quiet", False))
        self.stdout.write(self.style.SUCCESS(f"{self.kind} job {ended.uuid} succeeded: {self.describe(ended)}"))
