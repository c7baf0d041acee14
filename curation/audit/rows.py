"""The per-item and per-annotator rows an audit fills in (stored as
``ItemAudit`` / ``AnnotatorAudit``). Stages write their figures into the rows
they are given (:class:`AuditRows`) and return their summary section."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curation.audit.load import ProjectData


class _Flags:
    flags: list

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


@dataclass
class ItemRow(_Flags):
    n_judgments: int = 0
    majority_share: float | None = None
    entropy: float | None = None
    disagreement: float | None = None
    consensus: dict = field(default_factory=dict)
    chosen: int | None = None
    rejected: int | None = None
    ches: float | None = None
    ln_ches: float | None = None
    ches_model: str = ""
    discretion_category: str = ""
    flags: list = field(default_factory=list)
    details: dict = field(default_factory=dict)


@dataclass
class AnnotatorRow(_Flags):
    n_annotations: int = 0
    agreement: float | None = None
    kappa: float | None = None
    probe_consistency: float | None = None
    swap_consistency: float | None = None
    transitivity_violations: int = 0
    median_seconds: float | None = None
    arbitrariness: float | None = None
    outlier: bool = False
    flags: list = field(default_factory=list)
    details: dict = field(default_factory=dict)


@dataclass
class AuditRows:
    """One :class:`ItemRow` per audited item (by item index) and one
    :class:`AnnotatorRow` per annotator (by annotator index), plus the
    annotations whose uuids the stored details name (``marked``)."""

    items: dict[int, ItemRow]
    annotators: list[AnnotatorRow]
    marked: set[int] = field(default_factory=set)

    @classmethod
    def for_data(cls, data: ProjectData) -> AuditRows:
        return cls(
            items={int(i): ItemRow() for i in np.flatnonzero(data.audited)},
            annotators=[AnnotatorRow() for _ in data.annotator_id],
        )

    def mark(self, item: int, reason: str, *annotations: int) -> None:
        """Record ``annotations`` (indices) under ``details[reason]`` of an audited item."""
        row = self.items.get(item)
        if row is None:
            return
        row.details.setdefault(reason, [])
        for a in annotations:
            row.details[reason].append(int(a))  # annotation index; turned into uuids before writing
            self.marked.add(int(a))
