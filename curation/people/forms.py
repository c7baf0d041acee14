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
