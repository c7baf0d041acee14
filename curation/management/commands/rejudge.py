"""``python manage.py rejudge SLUG PRINCIPLE [--size N] [--overlap K] [--panel V,V@MODEL|project]
[--old-version N] [--run]`` and ``python manage.py rejudge SLUG PRINCIPLE --compare``

A re-judgment sample of a rewritten principle (name or id), with the service
the refine page uses (``curation.refinement.services.rejudgment_create``): the
same checks and field errors. A panel's judge job is queued for a worker, or
with ``--run`` run here. ``--compare`` recomputes the principle's latest
sample's comparison (``rejudgment_compare``) and prints it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project, Rejudgment
from curation.exports.orm import principle_find
from curation.jobs.runner import run_job
from curation.models import Job
from curation.refinement.compare import rejudgment_compare
from curation.refinement.services import SIZE_DEFAULT, rejudgment_create


class Command(BaseCommand):
    help = "Ask again about a sample of the items a principle's old version was applied to, and compare the versions."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("principle", help="the principle's name or id")
        parser.add_argument("--size", type=int, default=SIZE_DEFAULT, help=f"items (default {SIZE_DEFAULT})")
        parser.add_argument("--overlap", type=int, default=0, help="annotators per item, through the queue (0: none)")
        parser.add_argument("--panel", default="", help="judge panel members (variant[@MODEL],…) or 'project'")
        parser.add_argument("--old-version", type=int, help="the version compared against (default: the previous)")
        parser.add_argument("--run", action="store_true", help="run the panel's judge job here, then compare")
        parser.add_argument("--compare", action="store_true", help="recompute the latest sample's comparison")

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"slug: no project {options['slug']!r}")
        principle = principle_find(project=project, ref=options["principle"])
        if principle is None:
            raise CommandError(f"principle: no principle {options['principle']!r} in {project.slug}")
        if options["compare"]:
            rejudgment = Rejudgment.objects.filter(principle=principle).order_by("-created_at", "-id").first()
            if rejudgment is None:
                raise CommandError(f"principle: {principle.name!r} has no re-judgment sample")
            self._print(rejudgment, rejudgment_compare(rejudgment=rejudgment))
            return
        try:
            rejudgment = rejudgment_create(
                project=project,
                principle=principle,
                user=None,
                size=options["size"],
                overlap=options["overlap"],
                panel=options["panel"],
                old_version=options["old_version"],
                enqueue=not options["run"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from None
        copies = rejudgment.copies.count()
        self.stdout.write(f"re-judgment {rejudgment.uuid}: {copies} item(s) asked again")
        if rejudgment.job_uuid and options["run"]:
            job = run_job(Job.objects.get(uuid=rejudgment.job_uuid).pk)
            if job.status != Job.Status.SUCCEEDED:
                raise CommandError(f"the panel's judge job {job.status}: {job.error}")
            rejudgment.refresh_from_db()
            self._print(rejudgment, rejudgment.result)
        elif rejudgment.job_uuid:
            self.stdout.write(f"judge job {rejudgment.job_uuid} queued")

    def _print(self, rejudgment, result):
        old, new = rejudgment.old_version.number, rejudgment.new_version.number
        for group, g in result["groups"].items():
            if not g["n_items"]:
                self.stdout.write(f"{group}: {g['reason']}")
                continue
            self.stdout.write(
                f"{group}: {g['n_items']} item(s); α v{old} {g['old']['estimate']} → v{new} {g['new']['estimate']}; "
                f"split {g['split_old']} → {g['split_new']}; difference {g['difference']['estimate']} "
                f"[{g['difference']['low']}, {g['difference']['high']}]"
                f"{' beyond the bootstrap noise' if g['beyond_noise'] else ''}"
            )
