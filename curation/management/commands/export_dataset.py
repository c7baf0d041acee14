"""``python manage.py export_dataset PROJECT_SLUG --format dpo|kto|ranking|judgment|sft|raw --out DIR [filters…]``

Runs the export job here with a progress bar (the same service the REST API
queues, ``curation.exports.services.export_create``), records the ``Dataset`` and copies
its folder (``README.md``, ``manifest.json``, ``data/<split>-00000-of-00001.
{jsonl,parquet}``) into ``--out``, which must be empty or missing. Every
option mirrors an export option of the same name (``--min-agreement`` is
``min_agreement``); a bad value exits non-zero naming the option. An export
with no rows exits non-zero, saying which filter or format rule removed what
(the manifest's ``why_empty``), unless ``--allow-empty``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.management.base import CommandError

from curation.exports import FORMATS
from curation.exports.selectors import dataset_folder
from curation.exports.services import export_create
from curation.management.commands._job_command import JobCommand

# (flag, option, help); values are passed as text and checked by the service.
VALUE_OPTIONS = [
    ("--min-agreement", "min_agreement", "drop items whose agreement is below this (0..1; the audit's when audited)"),
    ("--min-judgments", "min_judgments", "drop items with fewer usable judgments"),
    ("--voters", "voters", "whose judgments count, comma-separated: human,imported,model (default human,imported)"),
    ("--annotators", "annotator_types", "old name of --voters: human (= human,imported), judge (= model) or both"),
    ("--drop-split-principle", "drop_split_principle", "drop items whose verdicts on this principle split"),
    ("--ches-drop-above-quantile", "ches_drop_above_quantile", "CHES: drop pairwise items above this quantile"),
    ("--ches-keep-lowest-fraction", "ches_keep_lowest_fraction", "CHES: keep only this lowest fraction"),
    ("--ches-measure", "ches_measure", "CHES measure: ln_ches (default, length-normalised) or ches"),
    ("--ches-unscored", "ches_unscored", "pairwise items without a CHES score: keep (default) or drop"),
    (
        "--ches-min-chosen-tokens",
        "ches_min_chosen_tokens",
        "CHES length guard: drop pairs whose chosen reply is shorter",
    ),
    ("--test-fraction", "test_fraction", "share of prompts in the test split (0 = train only)"),
    ("--seed", "seed", "seed of the train/test split"),
    ("--plain-prompt", "plain_prompt", "with --plain: last_user (default) or joined"),
    ("--ranking-pairs", "ranking_pairs", "DPO from rankings: all (default) or adjacent"),
    ("--dpo-sources", "dpo_sources", "comma-separated: pairwise,ranking,thumb,correction"),
    ("--extra-columns", "extra_columns", "DPO extra columns, comma-separated: margin,agreement,ches,ln_ches"),
    ("--kto-ties", "kto_ties", "KTO: drop (default) or desirable"),
    ("--sft-sources", "sft_sources", "comma-separated: pairwise,ranking,thumb,correction"),
    ("--row-group-size", "row_group_size", "rows per Parquet row group"),
    (
        "--question-filters",
        "question_filters",
        'custom questions: JSON list of {column, op, value}, e.g. \'[{"column": "q_hazard_chosen", "op": "empty"}]\'',
    ),
    ("--name", "name", "a label for the dataset"),
]
# (flag, option, value stored, help)
SWITCH_OPTIONS = [
    ("--exclude-flagged-annotators", "exclude_flagged_annotators", True, "drop flagged and outlier annotators"),
    ("--drop-swap-inconsistent", "drop_swap_inconsistent", True, "drop judgments the audit found swap-inconsistent"),
    ("--drop-judge-inconsistent", "drop_judge_inconsistent", True, "drop judge judgments marked inconsistent"),
    ("--drop-intransitive", "drop_intransitive", True, "drop judgments in a transitivity violation"),
    ("--include-excluded", "exclude_excluded", False, "keep items a curator excluded (left out by default)"),
    ("--plain", "conversational", False, "plain strings instead of message lists"),
    ("--no-kto-rankings", "kto_rankings", False, "KTO: no rows from rankings"),
    ("--ranking-include-pairwise", "ranking_include_pairwise", True, "ranking: pairwise items as 2-rankings"),
    ("--judgment-positives", "judgment_positives", True, "judgment: add thumbs-up responses with a null judgment"),
]


class Command(JobCommand):
    help = "Export a curated dataset (JSONL + Parquet, card, manifest) into a folder."
    kind = "export"
    create = staticmethod(export_create)
    can_enqueue = False  # the folder is copied to --out once the job has run here

    def add_job_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=list(FORMATS), help="dataset format")
        parser.add_argument("--out", required=True, help="folder to write (must be empty or missing)")
        for flag, option, help_text in VALUE_OPTIONS:
            parser.add_argument(flag, dest=option, help=help_text)
        for flag, option, value, help_text in SWITCH_OPTIONS:
            parser.add_argument(flag, dest=option, action="store_const", const=value, help=help_text)
        parser.add_argument(
            "--allow-empty", action="store_true", help="succeed even when the export has no rows (it says why)"
        )

    def check_options(self, project, options) -> None:
        out = Path(options["out"])
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise CommandError(f"--out: {out} is not an empty folder")

    def job_params(self, project, options) -> dict:
        names = [option for _, option, *_ in VALUE_OPTIONS + SWITCH_OPTIONS]
        export_options = {name: options[name] for name in names if options.get(name) is not None}
        return {"format": options["format"], "options": export_options}

    def finished(self, job, options) -> None:
        out = Path(options["out"])
        dataset = job.dataset
        shutil.copytree(dataset_folder(dataset=dataset), out, dirs_exist_ok=True)
        rows = ", ".join(f"{split} {n}" for split, n in dataset.manifest.get("rows", {}).items())
        line = f"dataset {dataset.uuid}: {dataset.row_count} {dataset.format} rows ({rows}) written to {out}"
        why = dataset.manifest.get("why_empty")
        if why and not options.get("allow_empty"):
            raise CommandError(f"{line}; {why}. Pass --allow-empty to accept an empty export.")
        self.stdout.write(self.style.SUCCESS(f"{line}; {why}" if why else line))
