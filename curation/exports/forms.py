"""The datasets page's export form, generated from ``EXPORT_OPTIONS``.

Every export option (but the old names in ``ALIASES``) gets one field, built from its :class:`OptionSpec` (kind,
choices, range, help, default); the form only parses what the browser sent.
The checks are ``export_options_clean``'s (through ``export_create`` and
``export_preview``), whose ``ValidationError`` names the option, so its
message lands on that option's field. An empty number or a list with nothing
ticked means the option's default.
"""

from __future__ import annotations

from django import forms

from curation.exports import FORMATS
from curation.exports.options import (
    ALIASES,
    AUDIT_SWITCHES,
    EXPORT_OPTIONS,
    FILTER_FIELDS,
    OPTION_FIELDS,
    PRINCIPLE_FILTERS,
    OptionSpec,
)

SPLIT_OPTIONS = ("test_fraction", "seed")
# The form's sections, in order: (title, option names). Every option is in exactly one.
SECTIONS = (
    ("Dataset", ("name",)),
    ("Filters", tuple(n for n in (*FILTER_FIELDS, *AUDIT_SWITCHES, *PRINCIPLE_FILTERS) if n not in SPLIT_OPTIONS)),
    ("Train/test split", SPLIT_OPTIONS),
    ("Format options", tuple(OPTION_FIELDS)),
)
FORMAT_HELP = {
    "dpo": "prompt / chosen / rejected (TRL DPOTrainer)",
    "kto": "prompt / completion / label (TRL KTOTrainer)",
    "ranking": "prompt / responses best first",
    "judgment": "prompt / response / critique",
    "sft": "prompt / completion",
    "raw": "every judgment, annotators pseudonymised",
}


def _field(spec: OptionSpec) -> forms.Field:
    common = {"required": False, "help_text": spec.help, "label": spec.name.replace("_", " ").capitalize()}
    default = spec.default
    if spec.kind == "bool":
        return forms.BooleanField(initial=bool(default), **common)
    if spec.kind == "list":
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in spec.choices],
            initial=list(default or []),
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    if spec.kind == "str" and spec.choices:
        return forms.ChoiceField(choices=[(c, c) for c in spec.choices], initial=default, **common)
    if spec.kind in ("int", "float"):
        attrs = {"step": "1" if spec.kind == "int" else "any", "inputmode": "decimal"}
        if spec.minimum is not None:
            attrs["min"] = f"{spec.minimum:g}"
        if spec.maximum is not None and not spec.maximum_exclusive:
            attrs["max"] = f"{spec.maximum:g}"
        field_class = forms.IntegerField if spec.kind == "int" else forms.FloatField
        # no min/max validators here: export_options_clean checks the range and names the option
        return field_class(initial=default, widget=forms.NumberInput(attrs=attrs), **common)
    return forms.CharField(initial=default or "", strip=True, **common)


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[(name, f"{name}: {FORMAT_HELP.get(name, '')}") for name in FORMATS],
        initial="dpo",
        help_text="The dataset format (TRL's).",
    )

    def __init__(self, *args, principles=(), **kwargs) -> None:
        """``principles``: the project's principle names, offered for ``drop_split_principle``
        (a name typed or sent otherwise is still checked by ``export_create``)."""
        super().__init__(*args, **kwargs)
        for name, spec in EXPORT_OPTIONS.items():
            if name not in ALIASES:  # an old name of another option: the form shows the option itself
                self.fields[name] = _field(spec)
        if principles:
            field = self.fields["drop_split_principle"]
            field.widget = forms.Select(choices=[("", "— keep every item —"), *((p, p) for p in principles)])

    def sections(self):
        """``(title, [bound fields])`` in the order of ``SECTIONS``."""
        return [(title, [self[name] for name in names]) for title, names in SECTIONS]

    def params(self) -> dict:
        """``{"format": …, "options": {…}}`` for ``export_create`` / ``export_preview`` (call after ``is_valid``)."""
        options = {
            name: value
            for name, value in self.cleaned_data.items()
            if name != "format" and value is not None and value != "" and value != []
        }
        return {"format": self.cleaned_data["format"], "options": options}


if {n for _title, names in SECTIONS for n in names} != set(EXPORT_OPTIONS) - set(
    ALIASES
):  # pragma: no cover - any import fails
    raise RuntimeError("an export option is missing from the export form's sections")
