"""Typed records of what the API returns (read-only, built from its JSON).

Fields follow the OpenAPI schema (``/api/schema/``); keys the client does not
know yet are kept in ``raw``, so a newer server never breaks an older client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class ResponseText:
    """A response of an item, in canonical order (position 0 = A)."""

    id: str
    position: int
    text: str
    model_name: str
    source: str

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ResponseText:
        return cls(
            id=data["id"],
            position=int(data["position"]),
            text=data["text"],
            model_name=data.get("model_name", ""),
            source=data.get("source", ""),
        )


@dataclass(frozen=True)
class Item:
    id: str
    kind: str
    external_id: str
    prompt_id: str
    responses: list[ResponseText]
    status: str
    annotation_count: int
    excluded: bool
    resolution: dict[str, Any] | None
    metadata: dict[str, Any]
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Item:
        return cls(
            id=data["id"],
            kind=data["kind"],
            external_id=data.get("external_id", ""),
            prompt_id=data.get("prompt_id", ""),
            responses=[ResponseText.from_api(r) for r in data.get("responses") or []],
            status=data.get("status", ""),
            annotation_count=int(data.get("annotation_count") or 0),
            excluded=bool(data.get("excluded")),
            resolution=data.get("resolution"),
            metadata=data.get("metadata") or {},
            created_at=_time(data.get("created_at")),
            raw=data,
        )


@dataclass(frozen=True)
class AnnotatorRef:
    """An annotator by opaque id (people are never named by the API)."""

    id: str
    type: str
    name: str
    model_name: str

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AnnotatorRef:
        return cls(id=data["id"], type=data["type"], name=data.get("name", ""), model_name=data.get("model_name", ""))


@dataclass(frozen=True)
class Annotation:
    id: str
    item_id: str
    kind: str
    annotator: AnnotatorRef
    choice: str
    strength: int | None
    ranking: list[list[str]] | None
    critique: str
    corrected_response: str
    rationale: str
    verdicts: dict[str, str]
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    # Answers to the project's custom questions by key (per response: keyed by response id).
    answers: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Annotation:
        return cls(
            id=data["id"],
            item_id=data["item_id"],
            kind=data.get("kind", ""),
            annotator=AnnotatorRef.from_api(data["annotator"]),
            choice=data.get("choice") or "",
            strength=data.get("strength"),
            ranking=data.get("ranking"),
            critique=data.get("critique") or "",
            corrected_response=data.get("corrected_response") or "",
            rationale=data.get("rationale") or "",
            verdicts=data.get("verdicts") or {},
            created_at=_time(data.get("created_at")),
            raw=data,
            answers=data.get("answers") or {},
        )


@dataclass(frozen=True)
class AuditItem:
    """One item's figures from the latest audit; ``responses`` and ``prompt`` when asked for."""

    item_id: str
    kind: str
    n_judgments: int
    majority_share: float | None
    entropy: float | None
    disagreement: float | None
    consensus: dict[str, Any] | None
    chosen: str | None
    rejected: str | None
    ches: float | None
    ln_ches: float | None
    discretion_category: str
    flags: list[str]
    responses: list[ResponseText] | None
    prompt: list[dict[str, Any]] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AuditItem:
        responses = data.get("responses")
        prompt = data.get("prompt")
        return cls(
            item_id=data["item_id"],
            kind=data["kind"],
            n_judgments=int(data.get("n_judgments") or 0),
            majority_share=data.get("majority_share"),
            entropy=data.get("entropy"),
            disagreement=data.get("disagreement"),
            consensus=data.get("consensus"),
            chosen=data.get("chosen"),
            rejected=data.get("rejected"),
            ches=data.get("ches"),
            ln_ches=data.get("ln_ches"),
            discretion_category=data.get("discretion_category") or "",
            flags=list(data.get("flags") or []),
            responses=None if responses is None else [ResponseText.from_api(r) for r in responses],
            prompt=None if prompt is None else list(prompt.get("messages") or []),
            raw=data,
        )

    def _text(self, response_id: str | None) -> str | None:
        for response in self.responses or []:
            if response.id == response_id:
                return response.text
        return None

    @property
    def chosen_text(self) -> str | None:
        """The consensus' chosen response's text (needs ``responses=True``)."""
        return self._text(self.chosen)

    @property
    def rejected_text(self) -> str | None:
        return self._text(self.rejected)


@dataclass(frozen=True)
class AnnotatorAudit:
    annotator: AnnotatorRef
    n_annotations: int
    agreement: float | None
    kappa: float | None
    probe_consistency: float | None
    median_seconds: float | None
    arbitrariness: float | None
    outlier: bool
    flags: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AnnotatorAudit:
        return cls(
            annotator=AnnotatorRef.from_api(data["annotator"]),
            n_annotations=int(data.get("n_annotations") or 0),
            agreement=data.get("agreement"),
            kappa=data.get("kappa"),
            probe_consistency=data.get("probe_consistency"),
            median_seconds=data.get("median_seconds"),
            arbitrariness=data.get("arbitrariness"),
            outlier=bool(data.get("outlier")),
            flags=list(data.get("flags") or []),
            raw=data,
        )


@dataclass(frozen=True)
class AuditSummary:
    """The latest audit's project-level figures (layout: Docket's ``curation.audit.summary``)."""

    project: str
    created_at: datetime | None
    item_count: int
    annotator_count: int
    summary: dict[str, Any]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AuditSummary:
        return cls(
            project=data["project"],
            created_at=_time(data.get("created_at")),
            item_count=int(data.get("item_count") or 0),
            annotator_count=int(data.get("annotator_count") or 0),
            summary=data.get("summary") or {},
        )


@dataclass(frozen=True)
class PrincipleAgreement:
    """One principle's agreement on one kind of item among one group of interpreters
    (``all``, ``human`` or ``judge``): Krippendorff's α of the verdicts with its bootstrap
    interval, the share of items where interpreters split, and the counts. ``top_split``
    lists the most split items as ``{"item", "spread", "verdicts"}``."""

    principle_id: int
    principle: str
    kind: str
    group: str
    alpha: float | None
    low: float | None
    high: float | None
    split_share: float | None
    n_items: int
    n_verdicts: int
    n_interpreters: int
    reason: str
    top_split: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PrincipleAgreement:
        principle = data.get("principle") or {}
        return cls(
            principle_id=int(principle.get("id") or 0),
            principle=str(principle.get("name") or ""),
            kind=str(data.get("kind") or ""),
            group=str(data.get("group") or ""),
            alpha=data.get("alpha"),
            low=data.get("low"),
            high=data.get("high"),
            split_share=data.get("split_share"),
            n_items=int(data.get("n_items") or 0),
            n_verdicts=int(data.get("n_verdicts") or 0),
            n_interpreters=int(data.get("n_interpreters") or 0),
            reason=str(data.get("reason") or ""),
            top_split=list(data.get("top_split") or []),
            raw=data,
        )


@dataclass(frozen=True)
class QuestionAgreement:
    """One custom question's agreement in the latest audit: its headline Krippendorff's α
    (``level`` nominal for a single choice, interval for a rating, MASI for multi-label) with its
    bootstrap interval; ``categories`` (multi-label) as ``{"value", "label", "rate", "n_labelled",
    "n_answers", "alpha"}``; ``annotators`` as ``{"annotator", "type", "agreement", "n", "z",
    "outlier"}``; ``top_split`` the units whose answers agree least. ``raw`` has every field
    (``alpha_ordinal``, ``alpha_jaccard``, ``distribution``, …)."""

    key: str
    label: str
    type: str
    target: str
    level: str
    alpha: float | None
    low: float | None
    high: float | None
    n_answers: int
    n_units: int
    outliers: int
    categories: list[dict[str, Any]]
    annotators: list[dict[str, Any]]
    top_split: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> QuestionAgreement:
        alpha = data.get("alpha") or {}
        return cls(
            key=str(data.get("key") or ""),
            label=str(data.get("label") or ""),
            type=str(data.get("type") or ""),
            target=str(data.get("target") or ""),
            level=str(alpha.get("level") or ""),
            alpha=alpha.get("alpha"),
            low=alpha.get("low"),
            high=alpha.get("high"),
            n_answers=int(data.get("n_answers") or 0),
            n_units=int(data.get("n_units") or 0),
            outliers=int(data.get("outliers") or 0),
            categories=list(data.get("categories") or []),
            annotators=list(data.get("annotators") or []),
            top_split=list(data.get("top_split") or []),
            raw=data,
        )
