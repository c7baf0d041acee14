"""Audit stage: counts of items, annotations and annotators; each
annotator's type and number of annotations; written-judgment items' number
of usable judgments (other kinds get theirs in their own stage)."""

from __future__ import annotations

import numpy as np

from annotate.models import Kind
from curation.audit.common import KINDS
from curation.audit.load import ProjectData
from curation.audit.rows import AuditRows
from curation.audit.summary import Counts


def counts(data: ProjectData, rows: AuditRows) -> Counts:
    d = data
    by_kind = {}
    for kind in KINDS:
        by_kind[kind] = {
            "items": int(((d.item_kind == kind) & d.audited).sum()),
            "annotations": int((d.ann_kind == kind).sum()),
        }
    for a, row in enumerate(rows.annotators):
        row.details["type"] = d.annotator_type[a]
    n_per = np.bincount(d.ann_annotator, minlength=len(d.annotator_id)) if len(d.ann_id) else []
    # Judgment items (free-text critiques) get their count here; other kinds in their own stage.
    votes = np.bincount(d.ann_item[d.vote], minlength=len(d.item_id)) if len(d.ann_id) else []
    for item in np.flatnonzero(d.audited & (d.item_kind == Kind.JUDGMENT.value)).tolist():
        rows.items[item].n_judgments = int(votes[item])
    for a, row in enumerate(rows.annotators):
        row.n_annotations = int(n_per[a])
    return {
        "items": len(d.item_id),
        "audited": int(d.audited.sum()),
        "excluded": int(d.item_excluded.sum()),
        "probes": int((d.item_probe_of >= 0).sum()),
        "annotations": len(d.ann_id),
        "annotators": len(d.annotator_id),
        "by_kind": by_kind,
    }
