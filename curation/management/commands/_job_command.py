"""Shared shape of the job management commands: resolve the project, create
the job through the kind's ``<kind>_create`` service (the same one the page
and the API call, which checks every parameter before anything is queued),
then run it here with a progress bar or hand it to a worker.

A parameter the service refuses exits non-zero naming the command-line flag
(``--per-prompt: per_prompt must be between 1 and 16``), and no job is created.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotate.models import Project
from curation.management.commands.run_job import run_with_progress_bar
from curation.models import Job


def validation_messages(exc: ValidationError, flags: dict[str, str] | None = None) -> str:
    """A service's ``ValidationError`` as one line, each field named by its flag when it has one."""
    flags = flags or {}
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{flags.get(field, field)}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class JobCommand(BaseCommand):
    """Subclasses set ``kind``, ``create = staticmethod(<kind>_create)``, add their
    options in ``add_job_arguments`` and turn them into the service's params in
    ``job_params``."""

    kind = ""
    create = None  # staticmethod(<kind>_create)
    can_enqueue = True  # offer --sync / --enqueue

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        self.add_job_arguments(parser)
        if self.can_enqueue:
            mode = parser.add_mutually_exclusive_group()
            mode.add_argument(
                "--sync", action="store_true", help="run in this process with a progress bar (the default)"
            )
            mode.add_argument(
                "--enqueue", action="store_true", help="hand the job to a Celery worker and print its id instead"
            )
        parser.add_argument("--user", help="record this username as the job's creator")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        # Each option's flag, to name it in the service's errors.
        self.flags = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}

    def add_job_arguments(self, parser):  # pragma: no cover - overridden
        pass

    def job_params(self, project, options) -> dict:  # pragma: no cover - overridden
        return {}

    def check_options(self, project, options) -> None:
        """Checks of the command's own options (not the job's), before anything is created."""

    def describe(self, job) -> str:
        return str(job.result)

    def finished(self, job: Job, options) -> None:
        self.stdout.write(self.style.SUCCESS(f"{self.kind} job {job.uuid} succeeded: {self.describe(job)}"))

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        user = None
        if options.get("user"):
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user: no user named {options['user']!r}")
        self.check_options(project, options)
        enqueue = bool(options.get("enqueue"))
        try:
            with transaction.atomic():
                job = self.create(project=project, user=user, params=self.job_params(project, options), enqueue=enqueue)
        except ValidationError as exc:
            raise CommandError(validation_messages(exc, getattr(self, "flags", None))) from None
        if enqueue:
            self.stdout.write(f"queued {self.kind} job {job.uuid}")
            return
        ended = run_with_progress_bar(job, stderr=self.stderr._out, quiet=options.get("quiet", False))
        self.finished(ended, options)
