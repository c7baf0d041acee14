"""The parameters of a synthesis job and their check (``synthesis_params_clean``:
run by ``synthesize_create`` before anything is queued, and by the runner;
the launch form's fields and defaults come from :class:`SynthesisParams`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError

from annotate.models import Kind, Project
from curation.jobs.params import param_float, param_int
from curation.synthesis.filters import QUALITY_LEVELS, FilterConfig

MAX_N = 100_000
MAX_NEW_TOKENS = 1024
MAX_RESPONSES = 16
RESPONSE_MODES = ("items", "dpo")


@dataclass(frozen=True)
class SynthesisParams:
    n: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    seed: int = 0
    batch_size: int = 32
    system_prompts: tuple[tuple[str, float], ...] = ()
    min_chars: int = 12
    max_chars: int = 2000
    languages: tuple[str, ...] = ("en",)
    near_duplicate_distance: float = 0.2
    min_input_quality: str = ""
    tags: bool = True
    responses: int = 0
    response_mode: str = "items"
    kinds: tuple[str, ...] = ()
    response_max_new_tokens: int = 128
    response_temperature: float = 0.8
    response_top_p: float = 1.0
    model: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("extra")
        data["system_prompts"] = [{"text": t, "weight": w} for t, w in self.system_prompts]
        data["languages"] = list(self.languages)
        data["kinds"] = list(self.kinds)
        return data

    def filter_config(self) -> FilterConfig:
        return FilterConfig(
            min_chars=self.min_chars,
            max_chars=self.max_chars,
            languages=self.languages,
            near_duplicate_distance=self.near_duplicate_distance,
            min_input_quality=self.min_input_quality or None,
        )


def system_prompts_parse(value) -> list[tuple[str, float]]:
    """System prompts with weights from text lines (``"3 | You are a tutor."``: weight 3;
    a line without a leading number and ``|`` has weight 1), a list of such lines, or a
    list of ``{"text", "weight"}``. Raises ``ValueError`` with a message for the field."""
    if value in (None, "", [], ()):
        return []
    items = value.splitlines() if isinstance(value, str) else list(value)
    out: list[tuple[str, float]] = []
    for raw in items:
        if isinstance(raw, dict):
            text, weight = str(raw.get("text", "")).strip(), raw.get("weight", 1)
        elif isinstance(raw, list | tuple) and len(raw) == 2:
            text, weight = str(raw[0]).strip(), raw[1]
        else:
            line = str(raw).strip()
            if not line:
                continue
            head, sep, tail = line.partition("|")
            text, weight = (tail.strip(), head.strip()) if sep and _is_number(head) else (line, 1)
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"weight {weight!r} is not a number") from None
        if not text:
            raise ValueError("a system prompt is empty")
        if not weight > 0 or weight == float("inf"):
            raise ValueError(f"weights must be positive, got {weight:g} for {text[:40]!r}")
        out.append((text, weight))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def synthesis_params_clean(*, project: Project, data: dict) -> SynthesisParams:
    """Defaults filled in and every value checked; ``ValidationError`` names the field."""
    errors: dict[str, str] = {}
    d = SynthesisParams()
    unknown = set(data) - set(SynthesisParams.__dataclass_fields__) - {"extra"}
    if unknown:
        errors["params"] = f"unknown parameter(s): {', '.join(sorted(unknown))}"
    try:
        system_prompts = tuple(system_prompts_parse(data.get("system_prompts")))
    except ValueError as exc:
        errors["system_prompts"] = str(exc)
        system_prompts = ()
    languages = data.get("languages", d.languages)
    if isinstance(languages, str):
        languages = [x.strip().lower() for x in languages.split(",") if x.strip()]
    languages = tuple(languages or ())
    bad = [x for x in languages if not (2 <= len(x) <= 3 and x.isalpha())]
    if bad:
        errors["languages"] = f"languages are ISO 639-1 codes such as en, de; got {', '.join(map(str, bad))}"
    quality = str(data.get("min_input_quality") or "")
    if quality and quality not in QUALITY_LEVELS:
        errors["min_input_quality"] = f"min_input_quality must be one of {', '.join(QUALITY_LEVELS)}"
    mode = data.get("response_mode") or d.response_mode
    if mode not in RESPONSE_MODES:
        errors["response_mode"] = f"response_mode must be one of {', '.join(RESPONSE_MODES)}"
    kinds_value = data.get("kinds") or list(project.kinds or Kind.values)
    if isinstance(kinds_value, str):
        kinds_value = [k.strip() for k in kinds_value.split(",") if k.strip()]
    bad_kinds = [k for k in kinds_value if k not in Kind.values]
    if bad_kinds:
        errors["kinds"] = f"unknown kind(s) {', '.join(map(str, bad_kinds))}; expected {', '.join(Kind.values)}"
    tags = data.get("tags", d.tags)
    if isinstance(tags, str):
        tags = tags.strip().lower() not in {"0", "false", "no", "off", ""}
    params = SynthesisParams(
        n=param_int(data, "n", d.n, 1, MAX_N, errors),
        temperature=param_float(data, "temperature", d.temperature, 0.0, 5.0, errors),
        top_p=param_float(data, "top_p", d.top_p, 0.0, 1.0, errors, low_open=True),
        max_new_tokens=param_int(data, "max_new_tokens", d.max_new_tokens, 1, MAX_NEW_TOKENS, errors),
        seed=param_int(data, "seed", d.seed, 0, 2**31 - 1, errors),
        batch_size=param_int(data, "batch_size", d.batch_size, 1, 1024, errors),
        system_prompts=system_prompts,
        min_chars=param_int(data, "min_chars", d.min_chars, 1, 100_000, errors),
        max_chars=param_int(data, "max_chars", d.max_chars, 1, 100_000, errors),
        languages=languages,
        near_duplicate_distance=param_float(
            data, "near_duplicate_distance", d.near_duplicate_distance, 0.0, 4.0, errors
        ),
        min_input_quality=quality,
        tags=bool(tags),
        responses=param_int(data, "responses", d.responses, 0, MAX_RESPONSES, errors),
        response_mode=mode,
        kinds=tuple(k for k in Kind.values if k in set(kinds_value)),
        response_max_new_tokens=param_int(
            data, "response_max_new_tokens", d.response_max_new_tokens, 1, MAX_NEW_TOKENS, errors
        ),
        response_temperature=param_float(data, "response_temperature", d.response_temperature, 0.0, 5.0, errors),
        response_top_p=param_float(data, "response_top_p", d.response_top_p, 0.0, 1.0, errors, low_open=True),
        model=str(data.get("model") or ""),
    )
    if "min_chars" not in errors and "max_chars" not in errors and params.min_chars > params.max_chars:
        errors["max_chars"] = "max_chars must be at least min_chars"
    if params.min_input_quality and not params.tags:
        errors["tags"] = "min_input_quality needs the quality tags on"
    if params.response_mode == "dpo" and params.responses == 1:
        errors["responses"] = "Magpie-DPO pairs need at least 2 responses per instruction"
    if errors:
        raise ValidationError(errors)
    return params
