"""Forms of the people pages: they parse input; the services check and write."""

from __future__ import annotations

from django import forms

from annotate.models import Role
from curation.people.services import INVITE_DEFAULT_DAYS, INVITE_MAX_DAYS, INVITE_MAX_USES


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)
    max_uses = forms.IntegerField(
        label="People", min_value=1, max_value=INVITE_MAX_USES, initial=1,
        help_text="How many people may join with this link (1: single-use).",
    )  # fmt: skip
    expires_in_days = forms.IntegerField(
        label="Valid for (days)", min_value=1, max_value=INVITE_MAX_DAYS, initial=INVITE_DEFAULT_DAYS
    )
    note = forms.CharField(max_length=200, required=False, help_text="For you: who the link is for.")
    email = forms.EmailField(required=False, help_text="Also send the link to this address.")

    def __init__(self, *args, email_enabled: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not email_enabled:
            del self.fields["email"]


class CrowdLinkForm(forms.Form):
    enabled = forms.BooleanField(required=False, initial=True, label="Open for enrolment")
    participant_param = forms.CharField(
        max_length=64, initial="participant", label="Participant id parameter",
        help_text="The query parameter that carries the participant's id, e.g. PROLIFIC_PID or workerId.",
    )  # fmt: skip
    items_required = forms.IntegerField(
        min_value=1, max_value=10000, initial=10, label="Items per participant",
        help_text="The completion code is shown after this many judgments (or when no item is left for them).",
    )  # fmt: skip
    completion_code = forms.CharField(max_length=100, help_text="What the crowd platform expects back.")
    return_url = forms.URLField(
        max_length=500, required=False, label="Return URL", assume_scheme="https",
        help_text="Where participants go back to (e.g. https://app.prolific.com/submissions/complete?cc=CODE).",
    )  # fmt: skip
    qualification_items = forms.IntegerField(
        min_value=0, max_value=100, initial=0, required=False, label="Qualification items",
        help_text="Gold items (pairwise or thumb items a curator resolved) each participant answers first; 0: none.",
    )  # fmt: skip
    qualification_min_accuracy = forms.FloatField(
        min_value=0, max_value=1, initial=0.8, required=False, label="Qualification accuracy",
        help_text="The share of gold items to get right; below it, the participant is thanked and stopped.",
    )  # fmt: skip

    def clean_qualification_items(self):
        return self.cleaned_data.get("qualification_items") or 0

    def clean_qualification_min_accuracy(self):
        value = self.cleaned_data.get("qualification_min_accuracy")
        return 0.8 if value is None else value
