"""``python manage.py create_project SLUG --name NAME [--description TEXT] [--guidelines FILE]
[--principle "name: description" ...] [--question JSON ...] [--questions FILE] [--overlap N]
[--owner USERNAME]``

Creates a project with the service the new-project page and ``POST
/api/v1/projects/`` use (``curation.projects.services.project_create``): the
same rules and field errors, everything in one transaction, each step in the
project's activity log (the actor: the command line, shown as "system"). The
owner (an existing account) becomes the project's first owner; other
settings are changed later on the settings page or with ``PATCH
/api/v1/projects/<slug>/``.

Custom questions: ``--question`` takes one definition as JSON (repeat it),
``--questions`` a JSON file holding a list of them (docs/questions.md), e.g.
``--question '{"key": "helpful", "type": "rating", "label": "Helpful?", "scale": 5}'``.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from curation.projects.services import project_create


def parse_principle(text: str) -> tuple[str, str]:
    """``"name: description"`` -> (name, description); no colon: a name alone."""
    name, _sep, description = text.partition(":")
    return name.strip(), description.strip()


class Command(BaseCommand):
    help = "Create a project (name, guidelines, principles, overlap, owner), as the new-project page does."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The project's name in addresses (/p/SLUG/); it cannot change.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", default="")
        parser.add_argument("--guidelines", metavar="FILE", help="A markdown file with the guidelines for annotators.")
        parser.add_argument(
            "--principle",
            action="append",
            default=[],
            metavar='"NAME: DESCRIPTION"',
            help="A principle (repeat the option for several, in order).",
        )
        parser.add_argument(
            "--question",
            action="append",
            default=[],
            metavar="JSON",
            help='A custom question as JSON, e.g. \'{"key": "note", "type": "text", "label": "Note"}\' (repeatable).',
        )
        parser.add_argument(
            "--questions", metavar="FILE", help="A JSON file with a list of custom questions (after any --question)."
        )
        parser.add_argument("--overlap", type=int, help="Distinct annotators wanted per item (default 3).")
        parser.add_argument("--owner", metavar="USERNAME", help="An existing user who becomes the project's owner.")

    def handle(self, *args, **options):
        settings = {}
        if options["guidelines"]:
            path = Path(options["guidelines"])
            try:
                settings["guidelines"] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"guidelines: cannot read {path}: {error}") from None
        if options["overlap"] is not None:
            settings["overlap"] = options["overlap"]
        questions = []
        for number, text in enumerate(options["question"], start=1):
            try:
                questions.append(json.loads(text))
            except json.JSONDecodeError as error:
                raise CommandError(f"question: --question {number} is not JSON: {error.msg}") from None
        if options["questions"]:
            path = Path(options["questions"])
            try:
                listed = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise CommandError(f"questions: cannot read {path}: {error}") from None
            if not isinstance(listed, list):
                raise CommandError(f"questions: {path} must hold a JSON list of questions")
            questions.extend(listed)
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"owner: no user named {options['owner']!r}")
        try:
            project = project_create(
                slug=options["slug"],
                name=options["name"],
                description=options["description"],
                principles=[parse_principle(text) for text in options["principle"]],
                questions=questions,
                owner=owner,
                user=None,
                **settings,
            )
        except ValidationError as error:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
            raise CommandError(f"Nothing created. {problems}") from None
        principles = project.principles.count()
        asked = project.questions.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {project.slug} ({project.name}): overlap {project.overlap}, "
                f"{principles} principle{'s' if principles != 1 else ''}"
                + (f", {asked} question{'s' if asked != 1 else ''}" if asked else "")
                + (f", owner {owner.get_username()}" if owner else ", no owner yet")
                + "."
            )
        )
