"""The audit's last stage: write the run as one ``Audit`` with its item and annotator rows."""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.utils import timezone

from annotate.models import Annotation, Project
from curation.audit.common import num
from curation.audit.pipeline import AuditResult
from curation.models import AnnotatorAudit, Audit, ItemAudit, Job


def audit_store(*, audit: AuditResult, project: Project, job: Job | None = None) -> Audit:
    """Write the run: one ``Audit``, its item and annotator rows, in one transaction."""
    d = audit.data
    wanted = sorted(audit.rows.marked)
    uuid_of = {}
    if wanted:
        ids = d.ann_id[wanted].tolist()
        uuid_of = {pk: str(u) for pk, u in Annotation.objects.filter(pk__in=ids).values_list("id", "uuid")}
    marks = ("swap_inconsistent", "retest_inconsistent", "intransitive", "thumbs_contradiction")
    summary = dict(audit.summary)
    summary["computed_at"] = timezone.now().isoformat()
    summary["job"] = str(job.uuid) if job else None
    with transaction.atomic():
        record = Audit.objects.create(project=project, job=job, summary=summary)
        item_rows = []
        for item, row in audit.rows.items.items():
            details = dict(row.details)
            for key in marks:
                if key in details:
                    details[key] = sorted({uuid_of.get(int(d.ann_id[a]), "") for a in details[key]} - {""})
            item_rows.append(
                {
                    "audit_id": record.pk,
                    "item_id": int(d.item_id[item]),
                    "n_judgments": row.n_judgments,
                    "majority_share": num(row.majority_share),
                    "entropy": num(row.entropy),
                    "disagreement": num(row.disagreement),
                    "consensus": row.consensus,
                    "chosen_id": row.chosen,
                    "rejected_id": row.rejected,
                    "ches": num(row.ches),
                    "ln_ches": num(row.ln_ches),
                    "ches_model": row.ches_model,
                    "discretion_category": row.discretion_category,
                    "flags": row.flags,
                    "details": details,
                }
            )
        _rows_insert(ItemAudit, item_rows)
        _rows_insert(
            AnnotatorAudit,
            [
                {
                    "audit_id": record.pk,
                    "annotator_id": int(d.annotator_id[a]),
                    "n_annotations": row.n_annotations,
                    "agreement": num(row.agreement),
                    "kappa": num(row.kappa),
                    "probe_consistency": num(row.probe_consistency),
                    "swap_consistency": num(row.swap_consistency),
                    "transitivity_violations": row.transitivity_violations,
                    "median_seconds": num(row.median_seconds),
                    "arbitrariness": num(row.arbitrariness),
                    "outlier": row.outlier,
                    "flags": row.flags,
                    "details": row.details,
                }
                for a, row in enumerate(audit.rows.annotators)
            ],
        )
    return record


def _rows_insert(model, rows: list[dict]) -> None:
    """Insert plain rows (column name -> value) with one PostgreSQL ``COPY`` (tens of
    thousands of item rows in well under a second, where ``bulk_create`` spent
    most of its time binding half a million parameters)."""
    if not rows:
        return
    columns = list(rows[0])
    json_columns = {f.column for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField"}
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([encode(row[c]) if c in json_columns else row[c] for c in columns])
