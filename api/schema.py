"""OpenAPI component names that say what a component is.

Every API class nests its own ``InputSerializer`` / ``OutputSerializer``
(HackSoft style), and drf-spectacular would name them all ``Input`` and
``Output``; module-level serializers are named ``FooOutput``. Generated
clients turn those names into class names, so here every serializer without
an explicit ``component_name`` is named after what it carries:

* ``SomethingApi.InputSerializer`` -> ``SomethingRequest``,
  ``SomethingApi.OutputSerializer`` -> ``SomethingResponse``;
* a serializer nested deeper -> the API's name + its own
  (``AnnotationCreateApi.InputSerializer.AnnotatorInput`` -> ``AnnotationCreateAnnotatorInput``);
* ``FooOutput`` -> ``Foo``;

unless ``COMPONENT_NAMES`` names it (by ``__qualname__``). A test fails on
any component still called ``Input``, ``Output`` or the like, and on any
warning while the schema is built.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse

from curation.exports.filters import ANNOTATOR_TYPES_AS_VOTERS
from curation.exports.run import FORMATS

from .errors import COMMON_ERRORS, ErrorSerializer

# Choice sets named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
EXPORT_FORMAT_CHOICES = [(name, name) for name in sorted(FORMATS)]
EXPORT_ANNOTATOR_CHOICES = list(ANNOTATOR_TYPES_AS_VOTERS)  # the old annotator_types option

COMPONENT_NAMES = {
    "AuditOutput": "AuditSummary",
    "AnnotationCreateApi.InputSerializer.AnnotatorInput": "ExternalAnnotator",
    "PrincipleInput": "PrincipleRequest",
    "QuestionInput": "QuestionRequest",
}


def _strip(name: str, suffix: str) -> str:
    return name[: -len(suffix)] if name.endswith(suffix) and name != suffix else name


def component_name_for(cls: type) -> str:
    qualname = cls.__qualname__.rsplit("<locals>.", 1)[-1]
    if qualname in COMPONENT_NAMES:
        return COMPONENT_NAMES[qualname]
    parts = qualname.split(".")
    if len(parts) == 1:
        return _strip(_strip(parts[0], "Serializer"), "Output")
    owner = _strip(parts[0], "Api")
    own = _strip(parts[-1], "Serializer")
    if len(parts) == 2:
        own = {"Input": "Request", "Output": "Response"}.get(own, own)
    return owner + own


class DocketAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction):
        return component_name_for(type(serializer))

    def _get_response_bodies(self, direction="response"):
        """Each operation's own responses plus the errors any of them may answer (``COMMON_ERRORS``)."""
        responses = super()._get_response_bodies(direction)
        for code, description in COMMON_ERRORS.items():
            if code not in responses:
                error = OpenApiResponse(ErrorSerializer, description=description)
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return responses


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Token <token>`` (accounts.auth.TokenAuthentication) in the schema."""

    target_class = "accounts.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
