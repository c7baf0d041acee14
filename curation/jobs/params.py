"""Parsing helpers the kinds' parameter cleaners share (``*_params_clean``).

Each reads one value from a dict of parameters as it came from a form, JSON
or the command line, checks its range and records a message naming the
field in ``errors`` instead of raising, so a cleaner reports every bad field
at once.
"""

from __future__ import annotations


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
    if number < low or (high is not None and number > high):
        errors[name] = f"{name} must be between {low} and {high}" if high else f"{name} must be at least {low}"
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
