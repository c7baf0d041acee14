"""The parameters of a candidate generation job and their check.

``generation_params_clean`` is what ``generate_create`` (page, command) runs
before anything is queued and what the runner runs again on the stored
parameters; a ``ValidationError`` names each bad field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from annotate.models import Kind, Project
from curation.jobs.params import MODEL_MAX_LENGTH, param_float, param_int, param_text

MAX_PER_PROMPT = 16
MAX_NEW_TOKENS = 4096
PAIR_RULES = ("adjacent", "all")


@dataclass(frozen=True)
class GenerationParams:
    per_prompt: int = 2
    max_new_tokens: int = 128
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    limit: int | None = None
    kinds: tuple[str, ...] = ()
    prompts_per_batch: int = 8
    batch_size: int = 16
    pair_rule: str = "adjacent"
    model: str = ""

    def as_dict(self) -> dict:
        return {
            "per_prompt": self.per_prompt,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "limit": self.limit,
            "kinds": list(self.kinds),
            "prompts_per_batch": self.prompts_per_batch,
            "batch_size": self.batch_size,
            "pair_rule": self.pair_rule,
            "model": self.model,
        }


def generation_params_clean(*, project: Project, data: dict) -> GenerationParams:
    """Defaults filled in and every value checked; ``ValidationError`` names the field."""
    errors: dict[str, str] = {}
    unknown = set(data) - set(GenerationParams.__dataclass_fields__)
    if unknown:
        errors["params"] = f"unknown parameter(s): {', '.join(sorted(unknown))}"
    d = GenerationParams()
    kinds_value = data.get("kinds") or list(project.kinds or Kind.values)
    if isinstance(kinds_value, str):
        kinds_value = [k.strip() for k in kinds_value.split(",") if k.strip()]
    kinds = tuple(k for k in Kind.values if k in set(kinds_value))
    bad = [k for k in kinds_value if k not in Kind.values]
    if bad:
        errors["kinds"] = f"unknown kind(s) {', '.join(map(str, bad))}; expected {', '.join(Kind.values)}"
    pair_rule = data.get("pair_rule") or d.pair_rule
    if pair_rule not in PAIR_RULES:
        errors["pair_rule"] = f"pair_rule must be one of {', '.join(PAIR_RULES)}"
    params = GenerationParams(
        per_prompt=param_int(data, "per_prompt", d.per_prompt, 1, MAX_PER_PROMPT, errors),
        max_new_tokens=param_int(data, "max_new_tokens", d.max_new_tokens, 1, MAX_NEW_TOKENS, errors),
        temperature=param_float(data, "temperature", d.temperature, 0.0, 5.0, errors),
        top_p=param_float(data, "top_p", d.top_p, 0.0, 1.0, errors, low_open=True),
        seed=param_int(data, "seed", d.seed, 0, 2**31 - 1, errors),
        limit=param_int(data, "limit", None, 1, None, errors, optional=True),
        kinds=kinds,
        prompts_per_batch=param_int(data, "prompts_per_batch", d.prompts_per_batch, 1, 1024, errors),
        batch_size=param_int(data, "batch_size", d.batch_size, 1, 1024, errors),
        pair_rule=pair_rule,
        model=param_text(data, "model", MODEL_MAX_LENGTH, errors),
    )
    if errors:
        raise ValidationError(errors)
    return params
