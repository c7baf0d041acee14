"""Forms of the curator's project pages (import, members, activity filters): they parse input; the services do the work."""

from __future__ import annotations

from django import forms

from annotate.models import Role
from curation.projects.activity import VERBS


class ImportForm(forms.Form):
    file = forms.FileField(
        label="JSONL file",
        help_text="One item per line: Docket items, TRL prompt/chosen/rejected rows or Anthropic HH rows.",
    )
    source_name = forms.CharField(
        label="Source name",
        max_length=200,
        required=False,
        help_text="Recorded with the imported prompts and responses (e.g. the dataset's name).",
    )
    skip_invalid = forms.BooleanField(
        label="Skip invalid lines",
        required=False,
        help_text="Import the valid lines and list the rejected ones (line number and reason) "
        "instead of importing nothing when a line is bad.",
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class MemberRoleForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.HiddenInput)
    role = forms.ChoiceField(choices=Role.choices)


class MemberRemoveForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.HiddenInput)


class ActivityFilterForm(forms.Form):
    """The activity log's filters (GET). Unknown values are form errors, not 500s."""

    verb = forms.ChoiceField(choices=[("", "anything")], required=False, label="What")
    actor = forms.ChoiceField(choices=[("", "anyone")], required=False, label="Who")

    def __init__(self, *args, actors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["verb"].choices = [("", "anything")] + [(verb, label) for verb, label in VERBS.items()]
        self.fields["actor"].choices = [("", "anyone")] + [(name or "-", name or "system") for name in actors]
