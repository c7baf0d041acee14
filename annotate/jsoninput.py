"""Untrusted JSON in, plain values out, or a ``JSONInputError`` saying where and why.

The one JSON reader for what users send: the API's request bodies
(``api.parsers.JSONParser``), each line of an import file
(``annotate.services.importing``) and the annotate form's ``ranking`` field.
Python's own ``json.loads`` accepts what PostgreSQL and the rest of the code
cannot take, and each of these used to become a 500:

* nesting: ``[`` × 100,000 raises ``RecursionError`` inside the decoder, and
  anything past a few hundred levels breaks the recursive code that walks or
  stores the value; more than ``MAX_DEPTH`` levels is refused;
* numbers: ``1e999`` decodes to infinity (and ``NaN``/``Infinity`` are
  accepted), which JSONB and COPY refuse; only finite numbers pass, and
  integers of more than ``MAX_INT_DIGITS`` digits are refused;
* text: ``\\u0000`` and unpaired surrogates (``\\ud800``) decode to strings
  PostgreSQL cannot store (a NUL) or UTF-8 cannot encode; the error names the
  path of the string (``options.name``, ``metadata.x``).

Each check costs next to nothing on ordinary input: the depth walk runs only
when the text holds more brackets than ``MAX_DEPTH``, the string walk only
when it holds a ``\\u0000`` or ``\\ud8..``-``\\udf..`` escape (the only ways
JSON text can spell those characters), and the number hooks only see numbers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64  # nesting levels of arrays and objects; Docket's own rows need 4
MAX_INT_DIGITS = 100  # far beyond any count, seed or id; Python's own limit is 4300

_SUSPICIOUS_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_INT_LIMIT = 10**MAX_INT_DIGITS


class JSONInputError(ValueError):
    """Why the JSON was refused; ``path`` is where (``"options.name"``, ``"metadata[2]"``) or ``""``."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


def _bad_number(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (NaN, Infinity and numbers like 1e999 cannot be stored)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT_LIMIT:
        return f"a whole number of more than {MAX_INT_DIGITS} digits is too large"
    return None


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """``JSONInputError`` when ``value`` nests lists and dicts more than ``max_depth`` deep (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > max_depth:
            raise JSONInputError(f"nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def bad_text(text: str) -> str | None:
    """Why PostgreSQL cannot store ``text`` (a NUL, an unpaired surrogate), or ``None``."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (\\ud800-\\udfff), which is not valid text"
    return None


def check_values(value: Any, path: str = "", *, strings: bool = True, numbers: bool = True) -> None:
    """``JSONInputError`` naming the first key or string PostgreSQL cannot store (``strings``) or the
    first number that is not finite or too large (``numbers``); iterative, so any depth is safe."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, str):
            problem = bad_text(current) if strings else None
        elif isinstance(current, dict):
            problem = None
            for key, inner in current.items():
                if strings and isinstance(key, str) and bad_text(key):
                    raise JSONInputError(f"a key {bad_text(key)}", where)
                stack.append((inner, _join(where, key)))
        elif isinstance(current, list):
            problem = None
            stack.extend((inner, _join(where, i)) for i, inner in enumerate(current))
        else:
            problem = _bad_number(current) if numbers else None
        if problem:
            raise JSONInputError(problem, where)


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode untrusted JSON text; ``JSONInputError`` (a ``ValueError``) says what is wrong and where.

    Syntax errors come back as ``JSONInputError`` too, with the column.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputError(f"not UTF-8 text (byte {exc.start})") from None
    odd_numbers = []

    def number(kind):
        def parse(token: str):
            value = kind(token)
            if _bad_number(value):
                odd_numbers.append(token)
            return value

        return parse

    def constant(name: str) -> float:
        odd_numbers.append(name)
        return float(name.replace("Infinity", "inf"))

    try:
        value = json.loads(text, parse_constant=constant, parse_float=number(float), parse_int=number(int))
    except RecursionError:
        raise JSONInputError(f"nested more than {max_depth} levels deep") from None
    except json.JSONDecodeError as exc:
        raise JSONInputError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:  # Python's own limit of 4,300 digits per integer
        raise JSONInputError(f"invalid JSON: {exc}") from None
    if text.count("[") + text.count("{") > max_depth:
        check_depth(value, max_depth)
    strings = bool(_SUSPICIOUS_ESCAPE.search(text))
    if strings or odd_numbers:
        check_values(value, strings=strings, numbers=bool(odd_numbers))
    return value
