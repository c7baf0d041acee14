"""Audit stage: agreement on the project's custom questions
(docs/algorithms.md#question-agreement).

For every question with answers (retired ones too: their answers stay), over
the audited items:

* **Units**: an item for a question asked of the item, each (item, response)
  for a question asked of each response.
* **Consensus** per unit from the voters' answers (``curation.consensus.question_consensus``:
  majority option, labels carried by more than half, mean rating).
* **α** with a 95 % percentile bootstrap over units: nominal (single choice),
  interval with ordinal beside it (rating), MASI with Jaccard beside it
  (multi-label) — ``curation.metrics``, docs/algorithms.md#multi-label-alpha.
* **Categories** (multi-label): each option's label rate and α on its yes/no
  (docs/algorithms.md#category-agreement).
* **Distribution** of the votes over options / labels / points.
* **Units that split most**: the 10 units with the lowest agreement
  (1 − mean distance of their votes to their consensus), for the drill-down.
* **Annotators**: each annotator's agreement with the consensus on the
  question (1 − mean distance, every usable answer, voter or not) and the
  low-agreement outlier rule of the annotators' stage applied per question
  (docs/algorithms.md#question-outliers). Written to the annotator rows'
  ``details["questions"]``; an outlier on a question gets the flag
  ``question_outlier`` (informational: it does not make them an outlier overall).

Free-text questions are counted but have no agreement measure.

Which answers are read: those of audited items whose own position check did
not fail (``curation.consensus.answer_counts``); an annotation's pairwise
``consistent=False`` (a judge's flipped verdict) does not drop its answers.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from annotate.models import Answer, Question, QuestionType
from curation import metrics
from curation.audit import batched
from curation.audit.common import boot, index_of, num
from curation.audit.load import ProjectData
from curation.audit.params import AuditParams
from curation.audit.rows import AuditRows
from curation.consensus import answer_counts, question_consensus
from curation.metrics.questions import masi_distance, set_distance_matrix, set_value_counts

TOP_SPLIT = 10


def _nominal(a, b) -> float:
    return float(a != b)


def questions(data: ProjectData, rows: AuditRows, *, params: AuditParams, project) -> dict:
    """The ``questions`` section of the summary: one entry per question (see the module docstring)."""
    d = data
    qs = list(Question.objects.filter(project=project).select_related("current").order_by("position", "id"))
    out = {"n_boot": params.n_boot, "entries": []}
    if not qs:
        return out
    answers = list(
        Answer.objects.filter(question__project=project).values_list(
            "annotation_id", "question_id", "response_id", "choice", "labels", "rating", "consistent"
        )
    )
    ann = index_of(d.ann_id, [a[0] for a in answers]) if answers else np.zeros(0, dtype=np.int64)
    # An answer counts by its own position check, not its annotation's pairwise one
    # (curation.consensus.answer_counts): a position-inconsistent judge's answers about one response stay.
    audited, voter = d.audited[d.ann_item], d.ann_voter
    by_question: dict[int, list] = defaultdict(list)
    for (_, qid, response_id, choice, labels, rating, consistent), a in zip(answers, ann.tolist(), strict=True):
        if a >= 0 and audited[a] and answer_counts(consistent):
            by_question[qid].append((a, response_id, choice, labels, rating))
    for q in qs:
        out["entries"].append(_question_entry(d, rows, q, by_question.get(q.pk, []), voter, params))
    return out


def _question_entry(d: ProjectData, rows: AuditRows, q: Question, answers: list, vote, params: AuditParams) -> dict:
    version = q.current
    entry = {
        "key": q.key,
        "label": version.label if version else q.key,
        "type": q.type,
        "target": q.target,
        "retired": q.retired_at is not None,
        "version": version.number if version else None,
        "n_answers": len(answers),
        "n_annotators": len({int(d.ann_annotator[a[0]]) for a in answers}),
    }
    if q.type == QuestionType.TEXT:
        entry["reason"] = "free text has no agreement measure"
        return entry

    def value_of(row):
        _, _, choice, labels, rating = row
        return {QuestionType.SINGLE_CHOICE: choice, QuestionType.MULTI_LABEL: tuple(sorted(labels or ())),
                QuestionType.RATING: rating}[q.type]  # fmt: skip

    unit_of: dict[tuple[int, int], int] = {}
    units: list[tuple[int, int | None]] = []
    ans_unit, ans_value, ans_annotator, ans_vote = [], [], [], []
    for row in answers:
        a, response_id = row[0], row[1]
        key = (int(d.ann_item[a]), response_id or 0)
        if key not in unit_of:
            unit_of[key] = len(units)
            units.append((key[0], response_id))
        ans_unit.append(unit_of[key])
        ans_value.append(value_of(row))
        ans_annotator.append(int(d.ann_annotator[a]))
        ans_vote.append(bool(vote[a]))
    n_units = len(units)
    votes_of: list[list] = [[] for _ in range(n_units)]
    for u, v, is_vote in zip(ans_unit, ans_value, ans_vote, strict=True):
        if is_vote:
            votes_of[u].append(v)
    options = [o["value"] for o in (version.options if version else [])]
    consensus = [question_consensus(q.type, vs, values=options) for vs in votes_of]
    entry["n_units"] = sum(1 for vs in votes_of if len(vs) >= 2)
    entry["n_votes"] = sum(len(vs) for vs in votes_of)

    labels_of = {o["value"]: o.get("label") or o["value"] for o in (version.options if version else [])}
    seen_max = max([v for v in ans_value if isinstance(v, int)] or [2])
    scale = max((version.scale if version else None) or 2, seen_max)  # an older version may have had more points
    if q.type == QuestionType.SINGLE_CHOICE:
        domain = options + sorted({v for v in ans_value} - set(options))
        distance = _nominal
        cons_value = [c.value for c in consensus]
        entry["distribution"] = _counts((v for vs in votes_of for v in vs), domain)
        entry["alpha"] = _scalar_alpha(votes_of, [domain.index(v) for v in domain], domain, "nominal", params)
    elif q.type == QuestionType.RATING:
        domain = list(range(1, scale + 1))

        def distance(a, b):
            return abs(float(a) - float(b)) / (scale - 1)

        cons_value = [c.value for c in consensus]
        entry["distribution"] = _counts((v for vs in votes_of for v in vs), domain)
        entry["alpha"] = _scalar_alpha(votes_of, domain, domain, "interval", params)
        entry["alpha_ordinal"] = _scalar_alpha(votes_of, domain, domain, "ordinal", params, n_boot=0)
        entry["scale"] = scale
        entry["mean"] = num(np.mean([v for vs in votes_of for v in vs])) if entry["n_votes"] else None
    else:
        seen = sorted({label for v in ans_value for label in v} - set(options))
        domain = options + seen
        distance = masi_distance
        cons_value = [None if c.answers == 0 else tuple(c.value) for c in consensus]
        entry["distribution"] = _counts((label for vs in votes_of for v in vs for label in v), domain)
        entry["distribution_none"] = sum(1 for vs in votes_of for v in vs if not v)
        entry["alpha"] = _set_alpha(votes_of, "masi", params)
        entry["alpha_jaccard"] = _set_alpha(votes_of, "jaccard", params, n_boot=0)
        slots = _slot_matrix(votes_of)
        entry["categories"] = [
            {"value": c.category, "label": labels_of.get(c.category, c.category), "rate": num(c.rate),
             "n_labelled": c.n_labelled, "n_answers": c.n_answers, "alpha": num(c.alpha)}
            for c in (metrics.category_agreement(slots, domain) if slots and slots[0] else [])
        ]  # fmt: skip
    entry["labels"] = {str(v): labels_of.get(v, str(v)) for v in domain} if q.type != QuestionType.RATING else {}
    entry["top_split"] = _top_split(d, units, votes_of, consensus, cons_value, distance, q.type)
    _annotators(d, rows, q, entry, ans_unit, ans_value, ans_annotator, cons_value, distance, params)
    return entry


def _counts(values, domain) -> dict[str, int]:
    counts = dict.fromkeys((str(v) for v in domain), 0)
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return counts


def _scalar_alpha(votes_of, codes_domain, domain, level: str, params: AuditParams, n_boot: int | None = None) -> dict:
    """α of choice codes or ratings over the units, with its bootstrap (``batched`` replays
    ``metrics.krippendorff_alpha_bootstrap``'s draws)."""
    lookup = {v: float(c) for v, c in zip(domain, codes_domain, strict=True)}
    unit = np.array([u for u, vs in enumerate(votes_of) for _ in vs], dtype=np.int64)
    values = np.array([lookup[v] for vs in votes_of for v in vs], dtype=np.float64)
    out = {"level": level, "n_units": int(sum(len(vs) >= 2 for vs in votes_of))}
    if unit.size == 0:
        return out | {"alpha": None, "reason": "no answers"}
    mat = batched.slots(unit, values, len(votes_of))
    try:
        alpha = metrics.krippendorff_alpha(mat, level)
    except ValueError as exc:
        return out | {"alpha": None, "reason": str(exc)}
    out["alpha"] = num(alpha)
    n_boot = params.n_boot if n_boot is None else n_boot
    if n_boot:
        interval = batched.krippendorff_alpha_bootstrap_fast(mat, level, n_boot=n_boot, seed=params.seed)
        out.update({k: v for k, v in boot(interval).items() if k != "estimate"})
    return out


def _slot_matrix(votes_of) -> list[list]:
    """Raters × units of label sets, each unit's votes stacked from the top (``None`` below)."""
    height = max((len(vs) for vs in votes_of), default=0)
    return [[frozenset(vs[r]) if r < len(vs) else None for vs in votes_of] for r in range(height)]


def _set_alpha(votes_of, distance: str, params: AuditParams, n_boot: int | None = None) -> dict:
    """MASI/Jaccard α of the label sets with its bootstrap: the batched replay of
    ``metrics.multilabel_alpha_bootstrap``'s draws."""
    out = {"level": distance, "n_units": int(sum(len(vs) >= 2 for vs in votes_of))}
    slots = _slot_matrix(votes_of)
    if not slots:
        return out | {"alpha": None, "reason": "no answers"}
    try:
        alpha = metrics.multilabel_alpha(slots, distance)
    except ValueError as exc:
        return out | {"alpha": None, "reason": str(exc)}
    out["alpha"] = num(alpha)
    n_boot = params.n_boot if n_boot is None else n_boot
    if n_boot:
        counts, domain = set_value_counts(slots)
        d = set_distance_matrix(domain, distance)
        interval = batched.alpha_bootstrap_counts_fast(counts, d, n_boot=n_boot, seed=params.seed)
        out.update({k: v for k, v in boot(interval).items() if k != "estimate"})
    return out


def _top_split(d: ProjectData, units, votes_of, consensus, cons_value, distance, qtype) -> list[dict]:
    scored = []
    for u, vs in enumerate(votes_of):
        if len(vs) < 2 or cons_value[u] is None:
            continue
        agreement = 1.0 - float(np.mean([distance(v, cons_value[u]) for v in vs]))
        scored.append((agreement, u))
    scored.sort(key=lambda t: (t[0], t[1]))
    out = []
    for agreement, u in scored[:TOP_SPLIT]:
        if agreement >= 1.0:
            break
        item, response_id = units[u]
        vs = votes_of[u]
        if qtype == QuestionType.MULTI_LABEL:
            answers = {"+".join(v) or "(none)": sum(1 for w in vs if w == v) for v in sorted(set(vs))}
            cons = list(cons_value[u])
        else:
            answers = {str(v): vs.count(v) for v in sorted(set(vs), key=str)}
            cons = num(cons_value[u]) if qtype == QuestionType.RATING else cons_value[u]
        out.append({"item": d.item_uuid[item], "response": d.response_uuid.get(response_id) if response_id else None,
                    "agreement": num(agreement), "answers": answers, "consensus": cons})  # fmt: skip
    return out


def _annotators(d, rows: AuditRows, q, entry, ans_unit, ans_value, ans_annotator, cons_value, distance, params):
    """Each annotator's agreement with the question's consensus and the per-question outlier rule."""
    annotators = sorted(set(ans_annotator))
    pos = {a: i for i, a in enumerate(annotators)}
    n_units = len(cons_value)
    matrix: list[list] = [[None] * n_units for _ in annotators]
    for u, v, a in zip(ans_unit, ans_value, ans_annotator, strict=True):
        matrix[pos[a]][u] = v  # an annotator answers a unit once
    result = metrics.rater_distance_agreement(matrix, cons_value, distance)
    eligible = [i for i in range(len(annotators)) if result.n[i] >= params.min_compared]
    z = metrics.leave_one_out_z([result.agreement[i] for i in eligible], min_peers=params.min_peers)
    z_of = dict(zip(eligible, z.tolist(), strict=True))
    listed = []
    for i, a in enumerate(annotators):
        zi = z_of.get(i, float("nan"))
        outlier = bool(zi == zi and zi < -2)
        figures = {"agreement": num(result.agreement[i]), "n": int(result.n[i]), "z": num(zi), "outlier": outlier}
        row = rows.annotators[a]
        row.details.setdefault("questions", {})[q.key] = figures
        if outlier:
            row.flag("question_outlier")
        listed.append({"annotator": d.annotator_uuid[a], "type": d.annotator_type[a], **figures})
    listed.sort(key=lambda r: (not r["outlier"], r["agreement"] if r["agreement"] is not None else 2.0))
    entry["annotators"] = listed
    entry["outliers"] = sum(r["outlier"] for r in listed)
