"""``python manage.py import_items PROJECT_SLUG FILE [--source-name NAME] [--skip-invalid] [--sync | --enqueue]``

Imports a JSONL file as an import job, through the same launcher as the
upload page and the API (``curation.imports.services.import_create``) and
the same importer (``annotate.services.importing.items_import``): all or
nothing unless ``--skip-invalid``, errors name the line and the field,
re-importing adds nothing. By default the job runs here with a progress
bar; ``--enqueue`` hands it to a worker.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from curation.imports.files import rejected_path
from curation.imports.services import import_create
from curation.management.commands._job_command import JobCommand
from curation.models import Job


class Command(JobCommand):
    help = "Import items from a JSONL file (Docket items, TRL preference rows or Anthropic HH rows) into a project."
    kind = "import"
    create = staticmethod(import_create)

    def add_job_arguments(self, parser):
        parser.add_argument("file", help="a .jsonl file, one item per line")
        parser.add_argument(
            "--source-name",
            dest="source_name",
            default=None,
            help="names the imported annotator of TRL/HH labels (imported:NAME); default: the file's name",
        )
        parser.add_argument(
            "--skip-invalid",
            dest="skip_invalid",
            action="store_true",
            help="import the valid lines and list the rejected ones (default: a bad line imports nothing)",
        )

    def check_options(self, project, options) -> None:
        if not Path(options["file"]).is_file():
            raise CommandError(f"{options['file']}: no such file")

    def job_params(self, project, options) -> dict:
        path = Path(options["file"])
        source_name = options["source_name"] if options["source_name"] is not None else path.stem
        return {
            "file": path,
            "file_name": path.name,
            "source_name": source_name,
            "skip_invalid": options["skip_invalid"],
        }

    def finished(self, job: Job, options) -> None:
        result = job.result or {}
        self.stdout.write(self.style.SUCCESS(f"{options['file']} into {job.project.slug}: {result.get('summary', '')}"))
        self._list_rejected(job)

    def _list_rejected(self, job: Job) -> None:
        rejected = (job.result or {}).get("rejected") or []
        for e in rejected:
            field = f"field '{e['field']}': " if e.get("field") else ""
            self.stderr.write(f"line {e['line']}: {field}{e['message']}")
        path = rejected_path(job)
        if path is not None:
            self.stderr.write(f"rejected lines (JSONL): {path}")
