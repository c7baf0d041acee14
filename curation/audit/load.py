"""Stage 1 of the audit: read the project into arrays (:class:`ProjectData`)
with a handful of ``values_list`` queries (no model instances), and the
principle verdicts the discretion stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotate.models import Annotation, Annotator, Item, ItemResponse, Kind, Principle, PrincipleVerdict, Project
from curation.audit.common import KIND_CODES, index_of
from curation.consensus import DEFAULT_VOTERS


@dataclass
class ProjectData:
    """The project as arrays. Item and annotator arrays are indexed 0..n-1;
    annotation arrays hold one entry per annotation."""

    # items
    item_id: np.ndarray
    item_uuid: list[str]
    item_kind: np.ndarray  # object: kind string
    item_prompt: np.ndarray
    item_excluded: np.ndarray
    item_probe_of: np.ndarray  # index of the original item, -1 if not a probe
    item_probe_for: np.ndarray  # annotator pk or -1
    item_probe_swapped: np.ndarray
    item_resolution: list
    item_responses: list[list[int]]  # response pks in position order
    response_uuid: dict[int, str]
    # annotators
    annotator_id: np.ndarray
    annotator_uuid: list[str]
    annotator_type: list[str]
    # annotations
    ann_id: np.ndarray
    ann_item: np.ndarray  # item index
    ann_annotator: np.ndarray  # annotator index
    ann_kind: np.ndarray  # object
    ann_code: np.ndarray  # float: pairwise/thumb code, NaN otherwise
    ann_strength: np.ndarray  # float, NaN when unset
    ann_seconds: np.ndarray  # float, NaN when unset
    ann_consistent: np.ndarray  # int8: 1 True, 0 False, -1 None
    rankings: dict[int, list] = field(default_factory=dict)  # annotation pk -> ranking JSON
    voters: tuple[str, ...] = DEFAULT_VOTERS  # annotator sources whose judgments are votes

    @property
    def audited(self) -> np.ndarray:
        return ~self.item_excluded & (self.item_probe_of < 0)

    @property
    def usable(self) -> np.ndarray:
        """Annotations of audited items that are not a judge's inconsistent ones (whoever made them)."""
        return self.audited[self.ann_item] & (self.ann_consistent != 0)

    @property
    def ann_voter(self) -> np.ndarray:
        """Per annotation: whether its annotator's source is among the voters (usable or not)."""
        voter = np.fromiter((t in self.voters for t in self.annotator_type), dtype=bool, count=len(self.annotator_type))
        if not len(self.ann_id):
            return np.zeros(0, dtype=bool)
        return voter[self.ann_annotator]

    @property
    def vote(self) -> np.ndarray:
        """The usable annotations by the voters: what consensus and agreement count
        (docs/algorithms.md#who-votes)."""
        voter = np.fromiter((t in self.voters for t in self.annotator_type), dtype=bool, count=len(self.annotator_type))
        if not len(self.ann_id):
            return self.usable
        return self.usable & voter[self.ann_annotator]


def project_data_load(*, project: Project, voters: tuple[str, ...] = DEFAULT_VOTERS) -> ProjectData:
    """Read the project into arrays with a handful of ``values_list`` queries; ``voters``: whose judgments are votes."""
    rows = list(
        Item.objects.filter(project=project, rejudge_of__isnull=True)  # re-judgment copies are read apart
        .order_by("id")
        .values_list(
            "id", "uuid", "kind", "prompt_id", "excluded", "resolution", "probe_of_id", "probe_for_id", "probe_swapped"
        )
    )
    item_id = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    probe_of = index_of(item_id, [r[6] or -1 for r in rows])
    responses: list[list[int]] = [[] for _ in rows]
    response_uuid: dict[int, str] = {}
    links = (
        ItemResponse.objects.filter(item__project=project, item__rejudge_of__isnull=True)
        .order_by("item_id", "position")
        .values_list("item_id", "response_id", "response__uuid")
    )
    link_rows = list(links)
    link_items = index_of(item_id, [r[0] for r in link_rows])
    for idx, (_, response_id, response_uuid_value) in zip(link_items.tolist(), link_rows, strict=True):
        responses[idx].append(response_id)
        response_uuid[response_id] = str(response_uuid_value)

    ann_rows = list(
        Annotation.objects.filter(item__project=project, item__rejudge_of__isnull=True)
        .order_by("id")
        .values_list("id", "item_id", "annotator_id", "kind", "choice", "strength", "time_spent_ms", "consistent")
    )
    n = len(ann_rows)
    annotator_pks = sorted({r[2] for r in ann_rows})
    annotator_rows = {
        pk: (str(u), t) for pk, u, t in Annotator.objects.filter(pk__in=annotator_pks).values_list("id", "uuid", "type")
    }
    annotator_id = np.asarray(annotator_pks, dtype=np.int64)
    code_of = {(kind, choice): float(i) for kind, codes in KIND_CODES.items() for i, choice in enumerate(codes)}
    ann_kind = np.empty(n, dtype=object)
    ann_kind[:] = [r[3] for r in ann_rows]
    data = ProjectData(
        item_id=item_id,
        item_uuid=[str(r[1]) for r in rows],
        item_kind=np.array([r[2] for r in rows], dtype=object),
        item_prompt=np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows)),
        item_excluded=np.fromiter((r[4] for r in rows), dtype=bool, count=len(rows)),
        item_probe_of=probe_of,
        item_probe_for=np.fromiter((r[7] or -1 for r in rows), dtype=np.int64, count=len(rows)),
        item_probe_swapped=np.fromiter((r[8] for r in rows), dtype=bool, count=len(rows)),
        item_resolution=[_resolution(r[5]) for r in rows],
        item_responses=responses,
        response_uuid=response_uuid,
        annotator_id=annotator_id,
        annotator_uuid=[annotator_rows[pk][0] for pk in annotator_pks],
        annotator_type=[annotator_rows[pk][1] for pk in annotator_pks],
        ann_id=np.fromiter((r[0] for r in ann_rows), dtype=np.int64, count=n),
        ann_item=index_of(item_id, [r[1] for r in ann_rows]),
        ann_annotator=index_of(annotator_id, [r[2] for r in ann_rows]),
        ann_kind=ann_kind,
        ann_code=np.fromiter((code_of.get((r[3], r[4]), np.nan) for r in ann_rows), dtype=np.float64, count=n),
        ann_strength=np.fromiter((np.nan if r[5] is None else r[5] for r in ann_rows), dtype=np.float64, count=n),
        ann_seconds=np.fromiter(
            (np.nan if r[6] is None else r[6] / 1000.0 for r in ann_rows), dtype=np.float64, count=n
        ),
        ann_consistent=np.fromiter((-1 if r[7] is None else int(r[7]) for r in ann_rows), dtype=np.int8, count=n),
        voters=tuple(voters),
    )
    if (data.ann_kind == Kind.RANKING.value).any():
        data.rankings = dict(
            Annotation.objects.filter(
                item__project=project, item__rejudge_of__isnull=True, kind=Kind.RANKING
            ).values_list("id", "ranking")
        )
    return data


def _resolution(value) -> dict | None:
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        return {"choice": value}
    return value if isinstance(value, dict) else None


def principle_verdicts_load(*, project: Project) -> tuple[list[tuple[int, int, str]], list[tuple[int, str]]]:
    """``(verdicts, principles)``: every principle verdict of the project as
    ``(annotation id, principle id, verdict)`` and its principles as ``(id, name)`` in order."""
    verdicts = list(
        PrincipleVerdict.objects.filter(
            annotation__item__project=project, annotation__item__rejudge_of__isnull=True
        ).values_list("annotation_id", "principle_id", "verdict")
    )
    principles = list(Principle.objects.filter(project=project).order_by("position", "id").values_list("id", "name"))
    return verdicts, principles
