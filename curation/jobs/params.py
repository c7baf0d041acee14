"""Parsing helpers the kinds' parameter cleaners share (``*_params_clean``).

Each reads one value from a dict of parameters as it came from a form, JSON
or the command line, checks its range and records a message naming the
field in ``errors`` instead of raising, so a cleaner reports every bad field
at once.
"""

from __future__ import annotations

from annotate.jsoninput import bad_text

# The ceiling of a whole-number parameter without its own (a limit, a seed): PostgreSQL's integer, far past
# any real count, so a 10^40 is refused here instead of failing in the job's SQL or sampler.
PARAM_INT_MAX = 2**31 - 1
MODEL_MAX_LENGTH = 500  # a model path or name, as long as the model_name columns


def param_int(data: dict, name: str, default, low: int, high: int | None, errors: dict, *, optional=False):
    value = data.get(name)
    if value is None or value == "":
        return None if optional else default
    try:
        number = int(value)
        if isinstance(value, float) and value != number:
            raise ValueError
    except (TypeError, ValueError):
        errors[name] = f"{name} must be a whole number, got {value!r}"
        return default
    high = PARAM_INT_MAX if high is None else high
    if number < low or number > high:
        errors[name] = f"{name} must be between {low} and {high}"
    return number


def param_float(data: dict, name: str, default: float, low: float, high: float, errors: dict, *, low_open=False):
    value = data.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[name] = f"{name} must be a number, got {value!r}"
        return default
    if number != number or number > high or number < low or (low_open and number == low):
        bound = "(" if low_open else "["
        errors[name] = f"{name} must be in {bound}{low}, {high}]"
    return number


def param_text(data: dict, name: str, max_length: int, errors: dict) -> str:
    """A text parameter (a model path, a list of names): at most ``max_length`` characters PostgreSQL can store."""
    value = data.get(name)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        errors[name] = f"{name} must be text, got {value!r}"
        return ""
    problem = bad_text(value)
    if problem is None and len(value) > max_length:
        problem = f"must be at most {max_length} characters, got {len(value)}"
    if problem:
        errors[name] = f"{name} {problem}"
    return value
