from __future__ import annotations

from datetime import timedelta

from django import forms

from accounts.models import NAME_MAX_LENGTH

# Lifetimes offered on the tokens page (the API takes any number of hours up to 90 days).
EXPIRY_CHOICES = [("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("60", "60 days"), ("90", "90 days")]


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        help_text="What uses it, e.g. “laptop notebook” or “nightly export job”.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "e.g. laptop notebook"}),
    )
    expires_in = forms.TypedChoiceField(
        label="Expires in", choices=EXPIRY_CHOICES, coerce=int, initial="30", help_text="A token cannot be extended."
    )

    @property
    def ttl(self) -> timedelta:
        return timedelta(days=self.cleaned_data["expires_in"])
