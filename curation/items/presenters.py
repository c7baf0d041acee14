"""An item's annotations as the item page and the audit's drill-down show
them: responses labelled A, B, …, each annotation's choice, ranking and
display order in those labels, and its principle verdicts."""

from __future__ import annotations

import string

from annotate.models import Kind, PairwiseChoice, ThumbChoice
from curation.items.selectors import item_annotations


def response_labels(count: int) -> list[str]:
    letters = string.ascii_uppercase
    return [letters[i] if i < len(letters) else f"R{i + 1}" for i in range(count)]


def _choice_text(annotation) -> str:
    if annotation.kind == Kind.PAIRWISE:
        return PairwiseChoice(annotation.choice).label if annotation.choice in PairwiseChoice.values else "?"
    if annotation.kind == Kind.THUMB:
        return ThumbChoice(annotation.choice).label if annotation.choice in ThumbChoice.values else "?"
    return ""


def ranking_text(ranking, label_of: dict[str, str]) -> str:
    if not ranking:
        return ""
    return " > ".join(" = ".join(label_of.get(str(r), "?") for r in group) for group in ranking)


def _answer_text(answer, label_of: dict[str, str]) -> tuple[str, str]:
    """``(question key, with the response's label for a per-response question), the answer as text``."""
    key = answer.question.key
    if answer.response_id:
        key = f"{key} ({label_of.get(str(answer.response.uuid), '?')})"
    value = answer.value
    if isinstance(value, list):
        value = ", ".join(value) or "none"
    return key, str(value)


def item_annotation_rows(item) -> tuple[list[dict], dict[str, str], list[dict]]:
    """The item's responses labelled A, B, … (``[{label, response}]``), the label of each response
    uuid, and one display row per annotation (choice, ranking and display order in those labels,
    principle verdicts, answers to custom questions); shared by the item page and the audit drill-down."""
    links = list(item.links.select_related("response").order_by("position"))
    labels = response_labels(len(links))
    responses = [{"label": label, "response": link.response} for label, link in zip(labels, links, strict=True)]
    label_of = {str(link.response.uuid): label for label, link in zip(labels, links, strict=True)}
    rows = [
        {
            "annotation": annotation,
            "choice": _choice_text(annotation),
            "ranking": ranking_text(annotation.ranking, label_of),
            "shown": ", ".join(label_of.get(str(u), "?") for u in annotation.display_order or []),
            "verdicts": [(v.principle.name, v.get_verdict_display()) for v in annotation.verdicts.all()],
            "answers": [_answer_text(a, label_of) for a in annotation.answers.all()],
        }
        for annotation in item_annotations(item=item)
    ]
    return responses, label_of, rows
