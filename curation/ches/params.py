"""The parameters of an encode job and their check (``encode_params_clean``: run by
``encode_create`` before anything is queued, and by the runner)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from curation.jobs.params import PARAM_INT_MAX

MAX_BATCH_SIZE = 64


@dataclass(frozen=True)
class EncodeParams:
    batch_size: int | None = None  # None: 4 on CPU, 8 on a GPU (curation.llm.encode.default_batch_size)
    limit: int | None = None


def encode_params_clean(*, data: dict | None) -> EncodeParams:
    """Defaults filled in and values checked; ``ValidationError`` names the field."""
    data = dict(data or {})
    errors: dict[str, str] = {}
    unknown = set(data) - set(EncodeParams.__dataclass_fields__)
    if unknown:
        errors["params"] = f"unknown parameter(s): {', '.join(sorted(unknown))}"
    values: dict[str, int | None] = {}
    for name, low, high in (("batch_size", 1, MAX_BATCH_SIZE), ("limit", 1, PARAM_INT_MAX)):
        value = data.get(name)
        if value is None or value == "":
            continue
        try:
            number = int(value)
            if isinstance(value, bool) or (isinstance(value, float) and value != number):
                raise ValueError
        except (TypeError, ValueError):
            errors[name] = f"{name} must be a whole number, got {value!r}"
            continue
        if number < low or number > high:
            errors[name] = f"{name} must be between {low} and {high}"
            continue
        values[name] = number
    if errors:
        raise ValidationError(errors)
    return EncodeParams(**values)
