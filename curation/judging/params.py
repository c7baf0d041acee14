"""The parameters of an algorithmic-judge job and their check (``judge_params_clean``:
run by ``judge_create`` before anything is queued, and by the runner)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from annotate.models import Kind, Project, Rejudgment
from curation.jobs.params import MODEL_MAX_LENGTH, param_int, param_text
from curation.judging.answers import RATING_RULES

JUDGE_KINDS = (Kind.PAIRWISE.value, Kind.THUMB.value, Kind.RANKING.value)
# Prompt variants of the judge: the instruction its system prompt adds (curation.judging.runner).
# Several variants (and models) judging the same items are a panel of interpreters
# (docs/algorithms.md#judge-panels), each stored as its own annotator.
JUDGE_VARIANTS = {
    "default": "",
    "strict": "Be strict: an answer with any error, omission or risk loses to one without.",
    "charitable": "Be charitable: read each answer in its most sensible interpretation before you judge it.",
    "literal": "Read the question and any principle literally: judge only what their words require.",
}
PANEL_MAX = 8


@dataclass(frozen=True)
class JudgeParams:
    limit: int | None = None
    kinds: tuple[str, ...] = JUDGE_KINDS
    principles: bool = False
    # Answer the project's custom questions (docs/algorithms.md#judge-answers); ratings by this rule.
    questions: bool = False
    rating_rule: str = "expected"
    model: str = ""
    # (model, variant) per panel member; empty: one judge, ``model`` with the default prompt
    panel: tuple[tuple[str, str], ...] = ()
    save_panel: bool = False  # store ``panel`` as the project's judge panel (judge_create)
    # uuid of a re-judgment sample (curation.refinement): judge its copies, asking only
    # its principle, in its new wording
    rejudgment: str = ""


PROJECT_PANEL = "project"  # the panel value that means "the project's saved panel"


def judge_panel_of(project: Project) -> list[str]:
    """The project's saved judge panel (``Project.options["judge_panel"]``), members as text."""
    stored = (project.options or {}).get("judge_panel") or []
    return [str(m) for m in stored] if isinstance(stored, list) else []


def judge_panel_text(members: tuple[tuple[str, str], ...]) -> list[str]:
    """Members as ``variant`` or ``variant@model`` (how they are stored and typed)."""
    return [f"{variant}@{model}" if model else variant for model, variant in members]


def _panel_member(entry) -> tuple[str, str]:
    """``"variant"``, ``"variant@model"`` or ``{"variant", "model"}`` as ``(model, variant)``."""
    if isinstance(entry, dict):
        unknown = set(entry) - {"variant", "model"}
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}; give variant and model")
        variant, model = str(entry.get("variant") or "default"), str(entry.get("model") or "")
    elif isinstance(entry, str):
        variant, _, model = entry.strip().partition("@")
        variant = variant.strip() or "default"
    else:
        raise ValueError(f"a member is a 'variant' or 'variant@model' string, got {entry!r}")
    if variant not in JUDGE_VARIANTS:
        raise ValueError(f"unknown prompt variant {variant[:40]!r}; known: {', '.join(JUDGE_VARIANTS)}")
    if len(model) > MODEL_MAX_LENGTH or "\x00" in model:
        raise ValueError(f"a member's model is a path of at most {MODEL_MAX_LENGTH} characters without NUL")
    return model.strip(), variant


def judge_panel_clean(value) -> tuple[tuple[str, str], ...]:
    """The ``panel`` parameter: a list (or comma-separated string) of members,
    each ``variant`` or ``variant@model``; ``ValueError`` says what is wrong."""
    if value in (None, "", []):
        return ()
    entries = [e for e in value.split(",") if e.strip()] if isinstance(value, str) else value
    if not isinstance(entries, list | tuple):
        raise ValueError(f"panel must be a list of members, got {value!r}")
    if len(entries) > PANEL_MAX:
        raise ValueError(f"a panel has 2 to {PANEL_MAX} members, got {len(entries)}")
    members = tuple(_panel_member(e) for e in entries)
    if len(set(members)) != len(members):
        raise ValueError("panel lists the same member twice")
    if not 2 <= len(members) <= PANEL_MAX:
        raise ValueError(f"a panel has 2 to {PANEL_MAX} members, got {len(members)}")
    return members


def judge_params_clean(*, project: Project, data: dict) -> JudgeParams:
    """Defaults filled in and values checked; ``ValidationError`` names the field."""
    errors: dict[str, str] = {}
    unknown = set(data) - set(JudgeParams.__dataclass_fields__)
    if unknown:
        errors["params"] = f"unknown parameter(s): {', '.join(sorted(unknown))}"
    limit = param_int(data, "limit", None, 1, None, errors, optional=True)
    model = param_text(data, "model", MODEL_MAX_LENGTH, errors)
    kinds_value = data.get("kinds") or [k for k in JUDGE_KINDS if k in (project.kinds or JUDGE_KINDS)]
    if isinstance(kinds_value, str):
        kinds_value = [k.strip() for k in kinds_value.split(",") if k.strip()]
    bad = [k for k in kinds_value if k not in JUDGE_KINDS]
    if bad:
        errors["kinds"] = f"a judge decides {', '.join(JUDGE_KINDS)} items, not {', '.join(map(str, bad))}"
    panel: tuple[tuple[str, str], ...] = ()
    wanted = data.get("panel")
    if isinstance(wanted, str) and len(wanted) > PANEL_MAX * (MODEL_MAX_LENGTH + 20):
        errors["panel"] = "panel: too long"
        wanted = None
    elif isinstance(wanted, str) and wanted.strip() == PROJECT_PANEL:
        wanted = judge_panel_of(project)
        if not wanted:
            errors["panel"] = "panel: this project has no saved judge panel; give its members and save it first"
    try:
        panel = judge_panel_clean(wanted)
    except ValueError as exc:
        errors["panel"] = f"panel: {exc}"
    rejudgment = str(data.get("rejudgment") or "").strip()
    if rejudgment:
        try:
            found = Rejudgment.objects.filter(project=project, uuid=uuid.UUID(rejudgment)).exists()
        except ValueError:
            found = False
        if not found:
            errors["rejudgment"] = "rejudgment: no such re-judgment sample in this project"
    rating_rule = data.get("rating_rule") or "expected"
    if rating_rule not in RATING_RULES:
        errors["rating_rule"] = f"rating_rule must be one of {', '.join(RATING_RULES)}, got {rating_rule!r}"
    if rejudgment and data.get("questions"):
        errors["questions"] = (
            "questions: a re-judgment asks only its rewritten principle, of copies kept out of the audits; "
            "answer the custom questions with an ordinary judge run"
        )
    save_panel = bool(data.get("save_panel"))
    if save_panel and not panel and "panel" not in errors:
        errors["save_panel"] = "save_panel: give the panel's members to save"
    if errors:
        raise ValidationError(errors)
    return JudgeParams(
        limit=limit,
        kinds=tuple(k for k in JUDGE_KINDS if k in set(kinds_value)),
        principles=bool(data.get("principles")),
        questions=bool(data.get("questions")),
        rating_rule=rating_rule,
        model=model,
        panel=panel,
        save_panel=save_panel,
        rejudgment=rejudgment,
    )
