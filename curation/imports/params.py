"""The import job's parameters and their check."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from annotate.jsoninput import bad_text
from annotate.services.importing import MAX_SOURCE_NAME

TRUE = {True, "true", "True", "1", "on", "yes"}
FALSE = {False, "false", "False", "0", "off", "no", "", None}


def param_bool(data: dict, name: str, errors: dict) -> bool:
    value = data.get(name)
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    errors[name] = f"{name} must be true or false, got {value!r}"
    return False


def import_params_clean(*, data: dict) -> dict:
    """``{"source_name", "skip_invalid"}`` checked; ``ValidationError`` names each bad field."""
    errors: dict[str, str] = {}
    skip_invalid = param_bool(data, "skip_invalid", errors)
    source_name = data.get("source_name") or ""
    if not isinstance(source_name, str):
        errors["source_name"] = f"source_name must be a string, got {type(source_name).__name__}"
        source_name = ""
    elif len(source_name) > MAX_SOURCE_NAME:
        errors["source_name"] = f"source_name must be at most {MAX_SOURCE_NAME} characters"
    elif bad_text(source_name):
        errors["source_name"] = f"source_name {bad_text(source_name)}"
    if errors:
        raise ValidationError(errors)
    return {"source_name": source_name.strip(), "skip_invalid": skip_invalid}
