"""``python manage.py encode PROJECT_SLUG [--batch-size N] [--limit N] [--sync | --enqueue]``

Stores, for every response of the project's pairwise and ranking items that
has none yet, the summed last-layer hidden states of the project's model
(``ResponseEncoding``), from which the audit computes CHES as dot products;
see ``curation.ches.runner``. Runs here with a progress bar by
default; ``--enqueue`` hands the job to a Celery worker instead.
"""

from __future__ import annotations

from curation.ches.services import encode_create
from curation.management.commands._job_command import JobCommand


class Command(JobCommand):
    help = "Encode the responses of pairwise and ranking items with the project's model, for CHES."
    kind = "encode"
    create = staticmethod(encode_create)

    def add_job_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            dest="batch_size",
            help="rows per forward pass, responses of several prompts together (default 4 on CPU, 8 on a GPU)",
        )
        parser.add_argument("--limit", type=int, help="at most N prompts (those with responses left to encode)")

    def job_params(self, project, options) -> dict:
        return {name: options[name] for name in ("batch_size", "limit") if options.get(name) is not None}

    def describe(self, job) -> str:
        r = job.result
        return (
            f"{r.get('responses_encoded', 0)} response(s) encoded over {r.get('prompts', 0)} prompt(s), "
            f"{r.get('already_encoded', 0)} already encoded, {r.get('tokens', 0)} tokens (model {r.get('model', '?')})"
        )
