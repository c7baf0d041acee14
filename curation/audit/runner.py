"""The 'audit' job's runner: compute every figure (``curation.audit.pipeline``),
then store them as one ``Audit`` with its rows (``curation.audit.store``)."""

from __future__ import annotations

import time

from curation.audit.params import audit_params_clean
from curation.audit.pipeline import STAGES, audit_compute
from curation.audit.store import audit_store
from curation.jobs.lifecycle import JobProgress
from curation.models import Audit, Job


def project_audit(job: Job, progress: JobProgress) -> dict:
    """The 'audit' job: see ``curation.audit.pipeline``."""
    project = job.project
    params = audit_params_clean(data=job.params or {})
    progress.set_total(len(STAGES), message="Audit: reading annotations")
    result = audit_compute(project=project, params=params, progress=progress)
    progress.check_cancelled()
    started = time.monotonic()
    record = audit_store(audit=result, project=project, job=job)
    record.summary["timings"]["writing results"] = round(time.monotonic() - started, 4)
    Audit.objects.filter(pk=record.pk).update(summary=record.summary)
    progress.advance(1, message="Audit stored")
    alpha = result.summary.get("alpha", {})
    out = {
        "audit": record.pk,
        "items": len(result.rows.items),
        "annotators": len(result.rows.annotators),
        "outliers": result.summary["annotators"]["outliers"],
        "seconds": round(result.summary["seconds"] + record.summary["timings"]["writing results"], 3),
    }
    for kind, value in alpha.items():
        out[f"alpha_{kind}"] = value.get("alpha")
    progress.log(f"audit {record.pk}: {out['items']} item(s), {out['annotators']} annotator(s) in {out['seconds']} s")
    return out
