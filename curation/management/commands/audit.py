"""``python manage.py audit PROJECT_SLUG [--sync | --enqueue] [options]``

Audits the project: agreement (Krippendorff α with bootstrap intervals),
consensus, annotator consistency and outliers, discretion and CHES, stored
as one ``Audit`` with per-item and per-annotator rows (see
``curation.audit``). By default the job runs here with a
progress bar; ``--enqueue`` hands it to a Celery worker instead.
"""

from __future__ import annotations

from curation.audit.services import audit_create
from curation.management.commands._job_command import JobCommand


class Command(JobCommand):
    help = "Audit a project: agreement, consensus, consistency, outliers, discretion and CHES."
    kind = "audit"
    create = staticmethod(audit_create)

    def add_job_arguments(self, parser):
        parser.add_argument("--n-boot", type=int, dest="n_boot", help="bootstrap resamples for intervals (1000)")
        parser.add_argument(
            "--n-boot-priority", type=int, dest="n_boot_priority", help="resamples for principle priority (200)"
        )
        parser.add_argument("--seed", type=int, help="bootstrap seed (0)")
        parser.add_argument(
            "--low-agreement-below",
            type=float,
            dest="low_agreement_below",
            help="flag items whose agreement is below this (the project's threshold, else 0.6)",
        )
        parser.add_argument(
            "--discretion-source",
            dest="discretion_source",
            choices=["all", "human", "model"],
            help="whose principle verdicts define the principles' preferences (all)",
        )
        parser.add_argument(
            "--voters",
            help="whose judgments are votes, comma-separated: human,imported,model (default human,imported)",
        )

    def job_params(self, project, options) -> dict:
        names = ["n_boot", "n_boot_priority", "seed", "low_agreement_below", "discretion_source", "voters"]
        data = {name: options[name] for name in names if options.get(name) is not None}
        return data

    def describe(self, job) -> str:
        r = job.result
        alphas = ", ".join(
            f"{key[6:]} {value:.3f}" if value is not None else f"{key[6:]} n/a"
            for key, value in r.items()
            if key.startswith("alpha_")
        )
        return (
            f"audit {r.get('audit')}: {r.get('items', 0)} item(s), {r.get('annotators', 0)} annotator(s), "
            f"{r.get('outliers', 0)} outlier(s); α: {alphas or 'none'} ({r.get('seconds', 0)} s)"
        )
