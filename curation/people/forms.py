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
