"""``python manage.py synthesize PROJECT_SLUG --n N [options]``

Magpie-style instruction synthesis: samples N instructions from the model's
pre-query template, filters them, stores the accepted ones as prompts
(``source='synthesized'``) with quality tags, and optionally goes on to K
responses each (items for people, or Magpie-DPO pairs scored by the model as
judge). See ``curation.synthesis.runner``. Runs here with a progress bar
unless ``--enqueue``.
"""

from __future__ import annotations

from curation.management.commands._job_command import JobCommand
from curation.synthesis.services import synthesize_create


class Command(JobCommand):
    help = "Synthesize instructions (Magpie) and filter them; optionally K responses each."
    kind = "synthesize"
    create = staticmethod(synthesize_create)

    def add_job_arguments(self, parser):
        parser.add_argument("--n", type=int, help="instructions to sample (32)")
        parser.add_argument("--temperature", type=float, help="sampling temperature (1.0)")
        parser.add_argument("--top-p", type=float, dest="top_p", help="nucleus sampling mass (1.0)")
        parser.add_argument("--max-new-tokens", type=int, dest="max_new_tokens", help="tokens per instruction (64)")
        parser.add_argument("--seed", type=int, help="random seed (0)")
        parser.add_argument("--batch-size", type=int, dest="batch_size", help="sequences sampled together (32)")
        parser.add_argument(
            "--system-prompt",
            dest="system_prompts",
            action="append",
            help="a system prompt to steer the topic; repeat for several; 'WEIGHT | TEXT' weights it",
        )
        parser.add_argument("--min-chars", type=int, dest="min_chars", help="shorter is rejected (12)")
        parser.add_argument("--max-chars", type=int, dest="max_chars", help="longer is rejected (2000)")
        parser.add_argument("--languages", help="accepted languages, comma-separated ISO codes ('en'; '' = any)")
        parser.add_argument(
            "--near-duplicate-distance",
            type=float,
            dest="near_duplicate_distance",
            help="reject below this squared distance of unit embeddings (0.2; 0 = off)",
        )
        parser.add_argument(
            "--min-input-quality",
            dest="min_input_quality",
            choices=["very poor", "poor", "average", "good", "excellent"],
            help="reject instructions the judge rates below this",
        )
        parser.add_argument("--no-tags", dest="tags", action="store_false", default=None, help="skip quality tags")
        parser.add_argument("--responses", type=int, help="K responses per accepted instruction (0 = none)")
        parser.add_argument(
            "--response-mode", dest="response_mode", choices=["items", "dpo"], help="items for people, or dpo pairs"
        )
        parser.add_argument("--kinds", help="item kinds for --response-mode items (project's kinds)")
        parser.add_argument("--response-max-new-tokens", type=int, dest="response_max_new_tokens", help="(128)")
        parser.add_argument("--response-temperature", type=float, dest="response_temperature", help="(0.8)")
        parser.add_argument("--model", help="a local model folder or .gguf file (default: the project's model)")

    def job_params(self, project, options) -> dict:
        names = [
            "n", "temperature", "top_p", "max_new_tokens", "seed", "batch_size", "system_prompts", "min_chars",
            "max_chars", "languages", "near_duplicate_distance", "min_input_quality", "tags", "responses",
            "response_mode", "kinds", "response_max_new_tokens", "response_temperature", "model",
        ]  # fmt: skip
        data = {name: options[name] for name in names if options.get(name) is not None}
        return data

    def describe(self, job) -> str:
        r = job.result
        rejected = {k: v for k, v in (r.get("rejected") or {}).items() if v}
        text = f"{r.get('accepted', 0)} of {r.get('sampled', 0)} accepted, rejected {rejected} (model {r.get('model')})"
        if r.get("responses"):
            text += f"; responses {r['responses']}"
        return text
