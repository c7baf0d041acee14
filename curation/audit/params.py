"""The parameters of an audit job and their check (``audit_params_clean``: run
by ``audit_create`` before anything is queued, and by the runner)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from curation.consensus import DEFAULT_VOTERS, voters_clean
from curation.jobs.params import PARAM_INT_MAX


@dataclass(frozen=True)
class AuditParams:
    n_boot: int = 1000
    n_boot_priority: int = 200
    seed: int = 0
    low_agreement_below: float | None = None  # None: the project's agreement_threshold, else 0.6
    discretion_source: str = "all"  # all / human / model
    min_compared: int = 10
    min_peers: int = 3
    min_probes: int = 5
    probe_floor: float = 0.6
    voters: tuple[str, ...] = DEFAULT_VOTERS  # whose judgments are votes (docs/algorithms.md#consensus)


def audit_params_clean(*, data: dict) -> AuditParams:
    """Defaults filled in and values checked; ``ValidationError`` names the field."""
    errors: dict[str, str] = {}
    fields = AuditParams.__dataclass_fields__
    unknown = set(data) - set(fields)
    if unknown:
        errors["params"] = f"unknown parameter(s): {', '.join(sorted(unknown))}"
    values: dict = {}
    for name in ("n_boot", "n_boot_priority", "seed", "min_compared", "min_peers", "min_probes"):
        if data.get(name) in (None, ""):
            continue
        try:
            value = int(data[name])
            if not 0 <= value <= PARAM_INT_MAX:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            errors[name] = f"{name} must be a whole number from 0 to {PARAM_INT_MAX}, got {data[name]!r}"
            continue
        values[name] = value
    for name in ("low_agreement_below", "probe_floor"):
        if data.get(name) in (None, ""):
            continue
        try:
            value = float(data[name])
            if not 0 <= value <= 1:
                raise ValueError
        except (TypeError, ValueError):
            errors[name] = f"{name} must be a number between 0 and 1, got {data[name]!r}"
            continue
        values[name] = value
    source = data.get("discretion_source")
    if source not in (None, ""):
        if source not in ("all", "human", "model"):
            errors["discretion_source"] = f"discretion_source must be all, human or model, got {source!r}"
        else:
            values["discretion_source"] = source
    if data.get("voters") not in (None, "", []):
        try:
            values["voters"] = voters_clean(data["voters"])
        except ValueError as exc:
            errors["voters"] = f"voters {exc}"
    if errors:
        raise ValidationError(errors)
    return AuditParams(**values)
