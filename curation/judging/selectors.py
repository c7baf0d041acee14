"""The judge's calibration card: can this model's labels be trusted?

``judge_calibration(project=, annotator=)`` reads a model annotator's
pairwise judgments of the project and returns::

    {"pairwise": n judged, "consistent": n, "position_consistency": consistent / pairwise,
     "compared": items with a human consensus of A or B that the judge answered consistently,
     "agreed": of those, the judge chose the consensus, "human_agreement": agreed / compared,
     "inconsistent_on_consensus": items with a human consensus where the judge contradicted itself,
     "verdict": "usable" | "doubtful" | "too weak" | "not enough data", "reason": ...}

* **Position consistency**: the share of pairwise items on which the judge
  preferred the same response in both presentation orders
  (docs/algorithms.md#position-swap). A judge that follows the position,
  not the content, is inconsistent on most pairs: the default SmolLM2-135M
  was swap-inconsistent on 70 % of 50 real chat pairs (issue 18).
* **Agreement with the human consensus**: on items already labelled by
  people, the consensus is the audit's rule (docs/algorithms.md#majority-vote,
  ``curation.consensus.choice_vote`` over the usable choices of people and
  imported labels, a tied top has none; a curator's resolution overrides it), and the judge's
  consistent choice is compared with it where the consensus is A or B.
* **Verdict** (thresholds are this card's, stated in the README):
  ``not enough data`` under ``MIN_PAIRS`` judged pairs; ``too weak`` when the
  position consistency is below 0.5 or, with at least ``MIN_COMPARED``
  compared items, the agreement is below 0.6; ``usable`` when the
  consistency is at least 0.8 and the agreement (with ``MIN_COMPARED`` items)
  at least 0.7; ``doubtful`` otherwise.
"""

from __future__ import annotations

from collections import defaultdict

from annotate.models import Annotation, Annotator, Kind, Project
from curation import consensus
from curation.audit.common import PAIRWISE_CODES
from curation.consensus import DEFAULT_VOTERS
from curation.judging.answers import JURY_MODEL_NAME

MIN_PAIRS = 10
MIN_COMPARED = 10


def human_pairwise_consensus(*, project: Project, item_ids=None) -> dict[int, str]:
    """``{item id: consensus choice}`` of pairwise items from the people's usable votes (or a resolution).

    The people are the default voters, accounts and imported labels
    (docs/algorithms.md#who-votes); the rule is ``curation.consensus.choice_vote``.
    """
    votes = Annotation.objects.filter(
        item__project=project,
        kind=Kind.PAIRWISE,
        annotator__type__in=list(DEFAULT_VOTERS),
        item__probe_of__isnull=True,
        item__rejudge_of__isnull=True,
    ).exclude(consistent=False)
    if item_ids is not None:
        votes = votes.filter(item_id__in=list(item_ids))
    resolutions = project.items.filter(kind=Kind.PAIRWISE, resolution__isnull=False)
    if item_ids is not None:
        resolutions = resolutions.filter(pk__in=list(item_ids))
    by_item: dict[int, list[str]] = defaultdict(list)
    for item, choice in votes.values_list("item_id", "choice"):
        by_item[item].append(choice)
    resolved = {}
    for item, resolution in resolutions.values_list("pk", "resolution"):
        choice = (resolution or {}).get("choice")
        if choice in PAIRWISE_CODES:
            resolved[item] = choice
    out: dict[int, str] = {}
    for item in by_item.keys() | resolved.keys():
        choice = consensus.choice_vote(by_item.get(item, []), resolution=resolved.get(item)).choice
        if choice is not None:
            out[item] = choice
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def judge_calibration(*, project: Project, annotator: Annotator) -> dict:
    """The calibration card of a model annotator on ``project`` (see the module docstring)."""
    judged = list(
        Annotation.objects.filter(
            item__project=project,
            annotator=annotator,
            kind=Kind.PAIRWISE,
            item__probe_of__isnull=True,
            item__rejudge_of__isnull=True,
        ).values_list("item_id", "choice", "consistent")
    )
    consistent = sum(1 for _i, _c, ok in judged if ok)
    consensus = human_pairwise_consensus(project=project, item_ids=[i for i, _c, _ok in judged])
    on_consensus = [(i, c, ok) for i, c, ok in judged if consensus.get(i) in ("A", "B")]
    compared = [(i, c) for i, c, ok in on_consensus if ok]
    agreed = sum(1 for i, c in compared if c == consensus[i])
    card = {
        "annotator": annotator.name,
        "model": annotator.model_name,
        "pairwise": len(judged),
        "consistent": consistent,
        "position_consistency": _rate(consistent, len(judged)),
        "labelled_by_people": len(consensus),
        "compared": len(compared),
        "agreed": agreed,
        "human_agreement": _rate(agreed, len(compared)),
        "inconsistent_on_consensus": len(on_consensus) - len(compared),
    }
    card["verdict"], card["reason"] = _verdict(card)
    return card


def _verdict(card: dict) -> tuple[str, str]:
    pc, agree, compared = card["position_consistency"], card["human_agreement"], card["compared"]
    if card["pairwise"] < MIN_PAIRS:
        return "not enough data", f"fewer than {MIN_PAIRS} pairwise items judged"
    if pc < 0.5:
        return "too weak", f"prefers the same response in both orders on only {pc:.0%} of pairs (position bias)"
    if compared >= MIN_COMPARED and agree < 0.6:
        return "too weak", f"agrees with the people's consensus on only {agree:.0%} of {compared} items"
    if pc >= 0.8 and compared >= MIN_COMPARED and agree >= 0.7:
        return "usable", f"consistent on {pc:.0%} of pairs, agrees with people on {agree:.0%} of {compared} items"
    if compared < MIN_COMPARED:
        return "doubtful", f"consistent on {pc:.0%} of pairs; too few items labelled by people to compare"
    return "doubtful", f"consistent on {pc:.0%} of pairs, agrees with people on {agree:.0%} of {compared} items"


def judge_calibrations(*, project: Project) -> list[dict]:
    """The card of every model annotator that judged pairwise items of ``project`` (for the audit);
    a panel's jury is no judge of its own (its pairwise label is always a tie) and has none."""
    judges = (
        Annotator.objects.filter(
            type=Annotator.Type.MODEL, annotations__item__project=project, annotations__kind=Kind.PAIRWISE
        )
        .exclude(model_name=JURY_MODEL_NAME)
        .distinct()
    )
    return [judge_calibration(project=project, annotator=judge) for judge in judges.order_by("name")]
