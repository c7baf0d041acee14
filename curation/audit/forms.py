"""Forms of the audit dashboards: they parse the filters and the item actions; services do the work."""

from __future__ import annotations

from django import forms

from annotate.models import Kind
from curation.audit.presenters import AMBIGUITY_GROUPS
from curation.audit.selectors import SORTS


class DisagreementFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "any kind"), *Kind.choices], required=False)
    flag = forms.CharField(max_length=40, required=False)
    sort = forms.ChoiceField(choices=[(k, v[0]) for k, v in SORTS.items()], required=False)


class ChesCutForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[("keep", "keep the lowest share"), ("value", "drop above a value")], initial="keep", required=False
    )
    keep = forms.FloatField(
        min_value=0, max_value=100, initial=15, required=False, label="Keep the lowest (%)", help_text="Paper: 5–15 %."
    )
    value = forms.FloatField(required=False, label="Drop pairs with LN-CHES above")


class ResolveForm(forms.Form):
    verdict = forms.CharField(max_length=500, required=False)
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MoreForm(forms.Form):
    extra = forms.IntegerField(min_value=1, max_value=20, initial=1)


class AmbiguityForm(forms.Form):
    group = forms.ChoiceField(choices=list(AMBIGUITY_GROUPS.items()), required=False, label="Interpreters")
