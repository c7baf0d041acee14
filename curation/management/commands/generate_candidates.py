"""``python manage.py generate_candidates PROJECT_SLUG [options]``

Samples K responses per prompt with the project's model (or ``--model``)
and builds items of the chosen kinds; see ``curation.generation.runner``
for the pair rule, de-duplication and idempotency. By default the job runs
here with a progress bar; ``--enqueue`` hands it to a Celery worker instead
(as the curator page does).
"""

from __future__ import annotations

from curation.generation.services import generate_create
from curation.management.commands._job_command import JobCommand


class Command(JobCommand):
    help = "Generate K candidate responses per prompt and build items from them."
    kind = "generate"
    create = staticmethod(generate_create)

    def add_job_arguments(self, parser):
        parser.add_argument("--limit", type=int, help="at most N prompts (those without a generation yet)")
        parser.add_argument("--per-prompt", type=int, dest="per_prompt", help="responses per prompt, K (2)")
        parser.add_argument("--max-new-tokens", type=int, dest="max_new_tokens", help="tokens per response (128)")
        parser.add_argument("--temperature", type=float, help="sampling temperature, 0 = greedy (0.8)")
        parser.add_argument("--top-p", type=float, dest="top_p", help="nucleus sampling mass (0.95)")
        parser.add_argument("--seed", type=int, help="random seed (0)")
        parser.add_argument(
            "--kinds", help="item kinds to build, comma-separated: pairwise,thumb,ranking,judgment (project's kinds)"
        )
        parser.add_argument(
            "--pair-rule", dest="pair_rule", choices=["adjacent", "all"], help="adjacent (default) or all"
        )
        parser.add_argument("--prompts-per-batch", type=int, dest="prompts_per_batch", help="prompts per commit (8)")
        parser.add_argument("--batch-size", type=int, dest="batch_size", help="sequences sampled together (16)")
        parser.add_argument("--model", help="a local model folder or .gguf file (default: the project's model)")

    def job_params(self, project, options) -> dict:
        names = [
            "limit", "per_prompt", "max_new_tokens", "temperature", "top_p", "seed", "kinds", "pair_rule",
            "prompts_per_batch", "batch_size", "model",
        ]  # fmt: skip
        data = {name: options[name] for name in names if options.get(name) is not None}
        return data

    def describe(self, job) -> str:
        r = job.result
        return (
            f"{r.get('prompts', 0)} prompt(s), {r.get('responses_created', 0)} new response(s), "
            f"{r.get('duplicates', 0)} duplicate(s), items created: {r.get('items_created', {})} "
            f"(model {r.get('model', '?')})"
        )
