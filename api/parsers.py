"""The API's JSON parser: bounded in size, depth and numbers, in the API's one error shape.

DRF's own parser turns only ``ValueError`` into a 400; ``[`` × 100,000 raised
``RecursionError`` and came back as Django's HTML 500 page, and ``1e999``,
``\\u0000`` or ``\\ud800`` passed the parser and failed in PostgreSQL. This
one reads the body through ``annotate.jsoninput`` (the same reader as the
import lines and the annotate form's ranking) and answers

* 413 ``too_large`` for a body over ``MAX_JSON_BYTES`` (DRF reads the body
  itself, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` never sees it);
* 400 ``parse_error`` for bad JSON, nesting past ``jsoninput.MAX_DEPTH``
  levels or a number that is not finite;
* 400 ``invalid`` with ``fields`` naming the path (``options.name``) of a
  string PostgreSQL cannot store (NUL, unpaired surrogate).
"""

from __future__ import annotations

from rest_framework import exceptions, parsers, status

from annotate import jsoninput

MAX_JSON_BYTES = 5 * 1024 * 1024  # the largest real body (a corrected response of 200,000 characters) is ~1 MiB


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = f"The request body is larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(MAX_JSON_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_JSON_BYTES:
            raise PayloadTooLarge()
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - the body is not {encoding} text ({exc})") from None
        try:
            return jsoninput.loads(text)
        except jsoninput.JSONInputError as exc:
            if exc.path:
                raise exceptions.ValidationError({exc.path: [exc.message]}) from None
            raise exceptions.ParseError(f"JSON parse error - {exc.message}") from None
