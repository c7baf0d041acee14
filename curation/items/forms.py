"""Forms of the item pages: they parse input; the services do the work."""

from __future__ import annotations

from django import forms

from annotate.models import Kind
from curation.items.selectors import ItemState


class ItemFilterForm(forms.Form):
    """The item browser's filters (GET). Unknown values are form errors, not 500s."""

    kind = forms.ChoiceField(choices=[("", "any kind"), *Kind.choices], required=False)
    status = forms.ChoiceField(choices=[("", "any status"), *ItemState.choices], required=False)
    annotator = forms.ChoiceField(choices=[("", "any annotator")], required=False, label="Labelled by")
    q = forms.CharField(max_length=200, required=False, label="Prompt contains", strip=True)

    def __init__(self, *args, annotators=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["annotator"].choices = [("", "any annotator")] + [
            (str(a.uuid), f"{a.name} ({a.get_type_display()})") for a in annotators
        ]


class ExcludeForm(forms.Form):
    excluded = forms.TypedChoiceField(choices=[("1", "exclude"), ("0", "include")], coerce=lambda v: v == "1")
