"""The parameters of an algorithmic-judge job and their check (``judge_params_clean``:
run by ``judge_create`` before anything is queued, and by the runner)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from annotate.models import Kind, Project
from curation.jobs.params import MODEL_MAX_LENGTH, param_int, param_text

JUDGE_KINDS = (Kind.PAIRWISE.value, Kind.THUMB.value, Kind.RANKING.value)


@dataclass(frozen=True)
class JudgeParams:
    limit: int | None = None
    kinds: tuple[str, ...] = JUDGE_KINDS
    principles: bool = False
    model: str = ""


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
    if errors:
        raise ValidationError(errors)
    return JudgeParams(
        limit=limit,
        kinds=tuple(k for k in JUDGE_KINDS if k in set(kinds_value)),
        principles=bool(data.get("principles")),
        model=model,
    )
