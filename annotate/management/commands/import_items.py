"""``python manage.py import_items PROJECT_SLUG FILE [--source-name NAME]``

Imports a JSONL file with the same service as the curator's upload page
(``annotate.services.importing.items_import``): all or nothing, errors name
the line and the field, re-importing adds nothing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.models import Project
from annotate.services.importing import ImportFailed, items_import


class _Progress:
    """tqdm bars on stderr (reading in bytes, writing in items), shown only on a terminal."""

    def __init__(self, stream):
        self.disable = not (hasattr(stream, "isatty") and stream.isatty())
        self.stream = stream
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if self.disable:
            return
        bar = self.bars.get(stage)
        if bar is None:
            for other in self.bars.values():
                other.close()
            label, unit = ("reading", "B") if stage == "read" else ("writing", "item")
            size = shutil.get_terminal_size()
            bar = self.bars[stage] = tqdm(
                total=total,
                desc=label,
                unit=unit,
                unit_scale=True,
                file=self.stream,
                leave=False,
                # a pseudo-terminal may report a 0x0 size, which hides the bar;
                # shutil falls back to $COLUMNS/$LINES or 80x24
                ncols=size.columns,
                nrows=size.lines,
            )
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class Command(BaseCommand):
    help = "Import items from a JSONL file (Docket items, TRL preference rows or Anthropic HH rows) into a project."

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("file", help="a .jsonl file, one item per line")
        parser.add_argument(
            "--source-name",
            default=None,
            help="names the imported annotator of TRL/HH labels (imported:NAME); default: the file's name",
        )

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        source_name = options["source_name"] if options["source_name"] is not None else path.stem
        progress = _Progress(sys.stderr)
        try:
            with path.open("rb") as f:
                report = items_import(project=project, fileobj=f, source_name=source_name, progress=progress)
        except ImportFailed as exc:
            raise CommandError(f"{path}: nothing was imported.\n{exc}") from None
        finally:
            progress.close()
        self.stdout.write(self.style.SUCCESS(f"{path} into {project.slug}: {report.summary()}"))
