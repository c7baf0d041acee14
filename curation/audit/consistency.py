"""Audit stage: consistency of each annotator with themselves.

* Probes (an item with ``probe_of`` shown again to ``probe_for``): the
  probe's label is put in the original's orientation (by response
  identity when both hold the same responses, else by position) and
  compared with the annotator's label on the original: retest agreement
  for plain repeats, swap consistency for ``probe_swapped`` ones.
  Algorithmic judges' own order check (``consistent``) gives their
  swap consistency when they have no swapped probe.
* Transitivity per annotator per prompt over their pairwise choices
  (``transitivity_violations``, weak-order mode); thumbs vs pairwise
  contradictions per annotator (a winner they gave a thumbs-down and a
  loser they gave a thumbs-up).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from annotate.models import Kind
from curation import metrics
from curation.audit.common import group_slices, num, signed
from curation.audit.load import ProjectData
from curation.audit.rows import AuditRows
from curation.audit.summary import Rate, ThumbsCheck, TransitivityCount


def probes(data: ProjectData, rows: AuditRows, *, mid_ranks: dict[int, np.ndarray]) -> dict[str, Rate]:
    """Probe consistency per annotator and item, and judges' own order check;
    returns the ``retest``, ``swap`` and ``judge_order`` rates."""
    d = data
    key_of = {(int(d.ann_item[a]), int(d.ann_annotator[a])): a for a in range(len(d.ann_id))}
    annotator_index = {int(pk): i for i, pk in enumerate(d.annotator_id.tolist())}
    per = defaultdict(lambda: {"retest": ([], []), "swap": ([], [])})
    for probe in np.flatnonzero(d.item_probe_of >= 0).tolist():
        original = int(d.item_probe_of[probe])
        a_idx = annotator_index.get(int(d.item_probe_for[probe]))
        if a_idx is None:
            continue
        a_probe, a_orig = key_of.get((probe, a_idx)), key_of.get((original, a_idx))
        if a_probe is None or a_orig is None:
            continue
        kind = d.item_kind[probe]
        if kind == Kind.PAIRWISE.value:
            first = signed(d.ann_code[a_orig])
            second = signed(_oriented(data, probe, original, d.ann_code[a_probe]))
        elif kind == Kind.THUMB.value:
            first = 1.0 - 2.0 * d.ann_code[a_orig]
            second = 1.0 - 2.0 * d.ann_code[a_probe]
        elif kind == Kind.RANKING.value and a_orig in mid_ranks and a_probe in mid_ranks:
            r1 = mid_ranks[a_orig]
            r2 = _ranking_oriented(data, probe, original, mid_ranks[a_probe])
            first, second = 1.0, 1.0 if (r2 is not None and np.array_equal(r1, r2)) else -1.0
        else:
            continue
        if np.isnan(first) or np.isnan(second):
            continue
        swapped = bool(d.item_probe_swapped[probe])
        group = per[a_idx]["swap" if swapped else "retest"]
        group[0].append(first)
        group[1].append(second)
        consistent = first == second
        if original in rows.items:
            row = rows.items[original]
            row.details.setdefault("probes", []).append(
                {"annotator": d.annotator_uuid[a_idx], "swapped": swapped, "consistent": bool(consistent)}
            )
            if not consistent:
                reason = "swap_inconsistent" if swapped else "retest_inconsistent"
                row.flag(reason)
                rows.mark(original, reason, a_orig, a_probe)
    totals = {"retest": [0, 0], "swap": [0, 0]}
    for a_idx, groups in per.items():
        row = rows.annotators[a_idx]
        probes_info = {}
        same_total, n_total = 0, 0
        first, second = groups["retest"]
        if first:
            res = metrics.retest_agreement(first, second)
            probes_info["retest"] = {"n": res.n, "agreement": num(res.agreement), "kappa": num(res.kappa)}
            same_total += int(res.same.sum())
            n_total += res.n
            totals["retest"][0] += int(res.same.sum())
            totals["retest"][1] += res.n
        first, second = groups["swap"]
        if first:
            # swap_consistency takes the repeat in the orientation shown, i.e. flipped.
            res = metrics.swap_consistency(first, -np.asarray(second))
            n = int(res.usable.sum())
            probes_info["swap"] = {"n": n, "rate": num(res.rate)}
            row.swap_consistency = num(res.rate)
            same_total += int(res.consistent.sum())
            n_total += n
            totals["swap"][0] += int(res.consistent.sum())
            totals["swap"][1] += n
        row.details["probes"] = probes_info
        if n_total:
            row.probe_consistency = same_total / n_total
            row.details["n_probes"] = n_total
    # Algorithmic judges' own order check.
    judge_n, judge_ok = 0, 0
    for a_idx, part in group_slices(d.ann_annotator):
        flags = d.ann_consistent[part]
        checked = flags >= 0
        if not checked.any():
            continue
        n, ok = int(checked.sum()), int((flags == 1).sum())
        row = rows.annotators[int(a_idx)]
        row.details["judge_order"] = {"n": n, "rate": ok / n}
        if row.swap_consistency is None:
            row.swap_consistency = ok / n
        judge_n += n
        judge_ok += ok
    rates = {name: {"n": n, "rate": num(s / n) if n else None} for name, (s, n) in totals.items()}
    rates["judge_order"] = {"n": judge_n, "rate": judge_ok / judge_n if judge_n else None}
    return rates


def _oriented(data: ProjectData, probe: int, original: int, code: float) -> float:
    """A pairwise probe label in the original item's orientation."""
    d = data
    pr, orr = d.item_responses[probe], d.item_responses[original]
    if code in (0.0, 1.0) and len(pr) == 2 and set(pr) == set(orr) and pr[0] == orr[1]:
        return 1.0 - code
    return code


def _ranking_oriented(data: ProjectData, probe: int, original: int, ranks: np.ndarray) -> np.ndarray | None:
    d = data
    pr, orr = d.item_responses[probe], d.item_responses[original]
    if len(pr) != len(orr):
        return None
    if set(pr) == set(orr):
        where = {r: i for i, r in enumerate(pr)}
        return ranks[[where[r] for r in orr]]
    return ranks


def transitivity_and_thumbs(data: ProjectData, rows: AuditRows) -> tuple[TransitivityCount, ThumbsCheck]:
    """Transitivity per annotator per prompt and thumbs-vs-pairwise contradictions per annotator."""
    d = data
    not_probe = d.item_probe_of[d.ann_item] < 0
    usable = not_probe & (d.ann_consistent != 0)
    pair = np.flatnonzero(usable & (d.ann_kind == Kind.PAIRWISE.value) & np.isin(d.ann_code, (0.0, 1.0, 2.0)))
    thumb = np.flatnonzero(usable & (d.ann_kind == Kind.THUMB.value) & ~np.isnan(d.ann_code))
    total_v, total_t = 0, 0
    # transitivity: per (annotator, prompt) with ≥ 3 pairwise judgments
    prompts = d.item_prompt[d.ann_item[pair]]
    keys = d.ann_annotator[pair].astype(np.int64) * (int(prompts.max()) + 1 if prompts.size else 1) + prompts
    per_annotator = defaultdict(lambda: [0, 0, 0])
    for _, part in group_slices(keys):
        if part.size < 3:
            continue
        anns = pair[part]
        edges, ties = [], []
        for a in anns.tolist():
            r = d.item_responses[d.ann_item[a]]
            if len(r) != 2 or r[0] == r[1]:
                continue
            code = d.ann_code[a]
            if code == 0:
                edges.append((r[0], r[1]))
            elif code == 1:
                edges.append((r[1], r[0]))
            else:
                ties.append((r[0], r[1]))
        violations, triads = metrics.transitivity_violations(edges, ties)
        a_idx = int(d.ann_annotator[anns[0]])
        per_annotator[a_idx][0] += violations
        per_annotator[a_idx][1] += triads
        per_annotator[a_idx][2] += bool(violations)
        total_v += violations
        total_t += triads
        if violations:
            for a in anns.tolist():
                item = int(d.ann_item[a])
                if item in rows.items:
                    rows.items[item].flag("transitivity")
                rows.mark(item, "intransitive", a)
    for a_idx, (violations, triads, prompts) in per_annotator.items():
        row = rows.annotators[a_idx]
        row.transitivity_violations = violations
        row.details["transitivity"] = {"violations": violations, "triads": triads, "prompts": prompts}
        if violations:
            row.flag("intransitive")
    # thumbs vs pairwise, per annotator
    total_c, total_k = 0, 0
    thumbs_by = defaultdict(dict)
    for a in thumb.tolist():
        r = d.item_responses[d.ann_item[a]]
        if r:
            thumbs_by[int(d.ann_annotator[a])][r[0]] = 1.0 - 2.0 * d.ann_code[a]
    strict = pair[np.isin(d.ann_code[pair], (0.0, 1.0))]
    for a_idx, part in group_slices(d.ann_annotator[strict]):
        thumbs = thumbs_by.get(int(a_idx))
        if not thumbs:
            continue
        anns = strict[part]
        choices = []
        for a in anns.tolist():
            r = d.item_responses[d.ann_item[a]]
            choices.append((r[0], r[1]) if d.ann_code[a] == 0 else (r[1], r[0]))
        check = metrics.thumbs_contradictions(choices, thumbs)
        row = rows.annotators[int(a_idx)]
        row.details["thumbs"] = {"contradictions": check.contradictions, "comparable": check.comparable}
        total_c += check.contradictions
        total_k += check.comparable
        if check.contradictions:
            row.flag("thumbs_contradiction")
            for a in anns[check.mask].tolist():
                item = int(d.ann_item[a])
                if item in rows.items:
                    rows.items[item].flag("thumbs_contradiction")
                rows.mark(item, "thumbs_contradiction", a)
    return {"violations": total_v, "triads": total_t}, {"contradictions": total_c, "comparable": total_k}
