"""The OpenAPI schema generated clients are built from: every component has
a name that says what it is, and the export options are typed (type, range
or choices, help text) from the one option spec."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from api.export_options import ExportOptionsSerializer
from api.schema import component_name_for
from curation.exports.options import EXPORT_OPTIONS

GENERIC = {"Input", "Output", "Request", "Response", "Serializer", "Inline", "Object", "Data", "Body"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    import yaml

    out = tmp_path_factory.mktemp("schema") / "schema.yml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def test_every_component_has_a_meaningful_name(schema):
    names = set(schema["components"]["schemas"])
    assert not names & GENERIC, names & GENERIC
    bad = sorted(n for n in names if n.endswith(("Serializer", "Output", "Input")) or n[-1].isdigit())
    assert not bad, bad
    # The nested Input/Output serializers of the API classes are named after their operation.
    assert {"ExportCreateRequest", "ExportCreateResponse", "ExportOptions", "Token", "TokenRequest"} <= names
    assert {"Project", "Item", "Annotation", "Job", "Dataset", "ItemAudit", "AnnotatorAudit", "AuditSummary"} <= names


def test_component_naming_rule():
    class ThingCreateApi:
        class InputSerializer:
            class AnnotatorInput:
                pass

        class OutputSerializer:
            pass

    class WidgetOutput:
        pass

    assert component_name_for(ThingCreateApi.InputSerializer) == "ThingCreateRequest"
    assert component_name_for(ThingCreateApi.OutputSerializer) == "ThingCreateResponse"
    assert component_name_for(ThingCreateApi.InputSerializer.AnnotatorInput) == "ThingCreateAnnotatorInput"
    assert component_name_for(WidgetOutput) == "Widget"


def _resolve(schema, prop):
    ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else prop


def test_export_options_are_typed_with_ranges_and_help(schema):
    options = schema["components"]["schemas"]["ExportOptions"]["properties"]
    assert set(options) == set(EXPORT_OPTIONS)
    for name, spec in EXPORT_OPTIONS.items():
        prop = options[name]
        assert prop.get("description"), name
        target = _resolve(schema, prop["items"]) if spec.kind == "list" else _resolve(schema, prop)
        if spec.kind in ("int", "float"):
            assert prop["type"] == {"int": "integer", "float": "number"}[spec.kind], name
            assert (prop["minimum"], prop["maximum"]) == (spec.minimum, spec.maximum), name
            assert prop.get("exclusiveMaximum", False) == spec.maximum_exclusive, name
        elif spec.kind == "bool":
            assert prop["type"] == "boolean", name
        elif spec.kind == "rules":  # question_filters: a list of typed conditions
            assert prop["type"] == "array" and _resolve(schema, prop["items"])["required"] == ["column", "op"], name
        elif spec.choices:
            assert target["enum"] == list(spec.choices), name
        else:
            assert prop["type"] == "string" and prop["maxLength"] == spec.max_length, name
    request = schema["components"]["schemas"]["ExportCreateRequest"]["properties"]
    assert request["options"]["$ref"].endswith("/ExportOptions")
    assert _resolve(schema, request["format"])["enum"] == ["dpo", "judgment", "kto", "ranking", "raw", "sft"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"ches_keep_lowest_fraction": 2}, "ches_keep_lowest_fraction"),
        ({"min_agreement": -1}, "min_agreement"),
        ({"seed": -1}, "seed"),
        ({"seed": 1e40}, "seed"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"row_group_size": 0}, "row_group_size"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"extra_columns": ["margin", "colour"]}, "extra_columns"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_the_serializer_and_the_service_refuse_the_same_values(options, field):
    from django.core.exceptions import ValidationError

    from curation.exports.options import export_options_clean

    serializer = ExportOptionsSerializer(data=options)
    assert not serializer.is_valid()
    assert field in serializer.errors
    with pytest.raises(ValidationError) as failure:
        export_options_clean(fmt="dpo", options=options)
    assert field in failure.value.message_dict


def test_the_serializer_and_the_service_accept_the_bounds():
    from curation.exports.options import export_options_clean

    bounds = {"min_agreement": 1.0, "ches_keep_lowest_fraction": 0.1, "seed": 2**32 - 1, "test_fraction": 0.0,
              "row_group_size": 1, "name": "x" * 200, "extra_columns": ["ln_ches", "margin"]}  # fmt: skip
    serializer = ExportOptionsSerializer(data=bounds)
    assert serializer.is_valid(), serializer.errors
    clean = export_options_clean(fmt="dpo", options=dict(serializer.validated_data))
    assert (clean["seed"], clean["extra_columns"], clean["name"]) == (2**32 - 1, ["margin", "ln_ches"], "x" * 200)
