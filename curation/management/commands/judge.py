"""``python manage.py judge PROJECT_SLUG [--limit N] [--principles] [--questions] [--rating-rule R] [--kinds …] [--model NAME] [--panel V,V@MODEL]``

The algorithmic judge annotates the project's pairwise, thumb and ranking
items it has not judged yet, from next-token probabilities; see
``curation.judging.runner`` for what is stored. By default the job runs
here with a progress bar; ``--enqueue`` hands it to a Celery worker.
"""

from __future__ import annotations

from curation.judging.services import judge_create
from curation.management.commands._job_command import JobCommand


class Command(JobCommand):
    help = "Run the algorithmic judge over items it has not judged yet."
    kind = "judge"
    create = staticmethod(judge_create)

    def add_job_arguments(self, parser):
        parser.add_argument("--limit", type=int, help="at most N items")
        parser.add_argument(
            "--principles", action="store_true", help="also an A / B / NA verdict per project principle (pairwise)"
        )
        parser.add_argument(
            "--questions", action="store_true", help="also answer the project's custom questions (not free text)"
        )
        parser.add_argument(
            "--rating-rule", choices=("expected", "argmax"), help="ratings: expected value (default) or argmax"
        )
        parser.add_argument("--kinds", help="comma-separated: pairwise,thumb,ranking (default: the project's)")
        parser.add_argument("--model", help="a local model folder or .gguf file (default: the project's model)")
        parser.add_argument(
            "--panel",
            help="a panel of judges, each its own annotator: comma-separated prompt variants "
            "(default, strict, charitable, literal), each optionally @MODEL; 'project': the project's saved panel",
        )
        parser.add_argument("--save-panel", action="store_true", help="save --panel as the project's judge panel")

    def job_params(self, project, options) -> dict:
        data = {name: options[name] for name in ("limit", "kinds", "model", "panel") if options.get(name) is not None}
        if options.get("principles"):
            data["principles"] = True
        if options.get("questions"):
            data["questions"] = True
        if options.get("rating_rule"):
            data["rating_rule"] = options["rating_rule"]
        if options.get("save_panel"):
            data["save_panel"] = True
        return data

    def describe(self, job) -> str:
        r = job.result
        return (
            f"{r.get('judged', 0)} item(s) judged ({r.get('by_kind', {})}), "
            f"{r.get('inconsistent', 0)} inconsistent across orders (model {r.get('model', '?')})"
        )
