"""The export options as a typed serializer, built from the one option spec
(``curation.exports.options.EXPORT_OPTIONS``): every option with its type,
range or choices, default and help text, so the OpenAPI schema (and the
clients generated from it) know them. The service validates again with the
same spec, and checks what spans options (one CHES filter at a time, what a
format accepts).
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from curation.exports.options import EXPORT_OPTIONS, OptionSpec
from curation.exports.questions import OPS


class BelowFloatField(serializers.FloatField):
    """A float in ``[min_value, below)``: the upper bound itself is refused."""

    default_error_messages = {"below": "Ensure this value is less than {below}."}

    def __init__(self, *, below: float, **kwargs):
        self.below = below
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value >= self.below:
            self.fail("below", below=self.below)
        return value


class BelowFloatFieldExtension(OpenApiSerializerFieldExtension):
    target_class = BelowFloatField

    def map_serializer_field(self, auto_schema, direction):
        schema = build_basic_type(OpenApiTypes.DOUBLE)
        if self.target.min_value is not None:
            schema["minimum"] = self.target.min_value
        schema["maximum"] = self.target.below
        schema["exclusiveMaximum"] = True
        return schema


@extend_schema_serializer(component_name="QuestionFilter")
class QuestionFilterSerializer(serializers.Serializer):
    """A condition on a custom question's column (``curation.exports.questions``)."""

    column = serializers.CharField(max_length=200, help_text="A question column of the format, e.g. q_hazard_chosen.")
    op = serializers.ChoiceField(choices=list(OPS))
    value = serializers.JSONField(
        required=False, help_text="What the column is compared with (not for empty / not_empty)."
    )


def _field(spec: OptionSpec) -> serializers.Field:
    default = spec.default
    common = {"required": False, "help_text": spec.help, "default": list(default) if spec.kind == "list" else default}
    if spec.kind == "bool":
        return serializers.BooleanField(**common)
    if spec.kind == "int":
        return serializers.IntegerField(min_value=spec.minimum, max_value=spec.maximum, **common)
    if spec.kind == "float":
        if spec.maximum_exclusive:
            return BelowFloatField(min_value=spec.minimum, below=spec.maximum, allow_null=True, **common)
        return serializers.FloatField(min_value=spec.minimum, max_value=spec.maximum, allow_null=True, **common)
    if spec.kind == "list":
        return serializers.ListField(child=serializers.ChoiceField(choices=list(spec.choices)), **common)
    if spec.kind == "rules":
        return QuestionFilterSerializer(many=True, required=False, help_text=spec.help, default=list)
    if spec.choices:
        return serializers.ChoiceField(choices=list(spec.choices), **common)
    return serializers.CharField(max_length=spec.max_length, allow_blank=True, **common)


@extend_schema_serializer(component_name="ExportOptions")
class ExportOptionsSerializer(serializers.Serializer):
    """Format options, filters (applied in the order listed) and the split; every one optional."""

    def get_fields(self):
        return {name: _field(spec) for name, spec in EXPORT_OPTIONS.items()}

    def to_internal_value(self, data):
        """The typed values; unknown names are errors too, reported with any bad values."""
        unknown = {}
        if isinstance(data, dict):
            known = ", ".join(sorted(EXPORT_OPTIONS))
            unknown = {
                name: [f"unknown option {name!r}; known: {known}"] for name in sorted(set(data) - set(EXPORT_OPTIONS))
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value
