"""One JSON error shape for every API failure.

    {"error": {"status": 400, "code": "invalid", "message": "…", "fields": {"name": ["…"]}}}

``fields`` appears for validation errors (400) and conflicts (409: an
idempotency key reused for another item) and names each bad field (or, for
imports, each bad line).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from annotate.services.annotations import IdempotencyKeyReused


class ErrorSerializer(serializers.Serializer):
    error = inline_serializer(
        "ErrorBody",
        fields={
            "status": serializers.IntegerField(),
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "fields": serializers.DictField(required=False),
        },
    )


# Answers any operation may give, in the error shape above; api.schema documents them on every operation.
COMMON_ERRORS = {
    "400": "Invalid input: ``fields`` names each bad field or query parameter",
    "401": "Not authenticated",
    "404": "No such object, or no role in its project",
    "413": "The request body is too large",
    "415": "Unsupported media type",
    "429": "Too many requests (throttled); retry after the Retry-After header's seconds",
}


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_flatten(value) for value in detail)
    return str(detail)


class IdempotencyKeyConflict(exceptions.APIException):
    """409: the idempotency key was already used for another item (``annotations.IdempotencyKeyReused``)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_reused"


def api_exception_handler(exc, context):
    if isinstance(exc, IdempotencyKeyReused):
        exc = IdempotencyKeyConflict(exc.message_dict)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    body = {"status": response.status_code, "code": code}
    if isinstance(exc, exceptions.ValidationError) and isinstance(detail, dict):
        body["message"] = "Invalid input: " + _flatten(detail)
        body["fields"] = detail
    elif isinstance(exc, IdempotencyKeyConflict):
        body["message"] = _flatten(detail)
        body["fields"] = detail
    elif isinstance(detail, dict) and "detail" in detail:
        body["message"] = str(detail["detail"])
    else:
        body["message"] = _flatten(detail)
    response.data = {"error": body}
    return response


def error_response(status_code: int, code: str, message: str, fields=None) -> Response:
    body = {"status": status_code, "code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return Response({"error": body}, status=status_code)


__all__ = ["COMMON_ERRORS", "ErrorSerializer", "api_exception_handler", "error_response", "status"]
