"""Forms of the curator's project pages (import, members, activity filters,
new project, settings): they parse input; the services do the work."""

from __future__ import annotations

from django import forms

from annotate.models import GUIDANCE_KINDS, Kind, QuestionTarget, QuestionType, Role
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


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Shown to everyone in the project.")
    slug = forms.SlugField(
        max_length=64,
        help_text="The project's name in addresses (/p/<slug>/): lower-case letters, digits and hyphens; it cannot change.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ProjectSettingsForm(forms.Form):
    """The settings page (parsing only: every rule is ``project_update``'s)."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    guidelines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "class": "markdown-source"}),
        required=False,
        strip=False,
        help_text="Markdown, shown to annotators beside every item (rendered and sanitised as items are).",
    )
    kinds = forms.MultipleChoiceField(
        choices=Kind.choices, widget=forms.CheckboxSelectMultiple, label="Kinds of items enabled"
    )
    overlap = forms.IntegerField(help_text="Distinct annotators wanted per item.")
    max_overlap = forms.IntegerField(
        label="Adaptive overlap: max overlap",
        help_text="Hand items whose agreement stays low out again, up to this many judgments (0 = off).",
    )
    agreement_threshold = forms.FloatField(
        label="Adaptive overlap: agreement threshold",
        help_text="Items whose agreement (0–1) is under this get another judgment.",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    probe_rate = forms.FloatField(
        help_text="Share (0–0.5) of an annotator's items repeated later as hidden probes (some A/B-swapped).",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    randomize_order = forms.BooleanField(
        required=False, label="Randomised A/B order", help_text="Shuffle response positions per annotator."
    )
    lease_seconds = forms.IntegerField(
        label="Lease length (seconds)", help_text="How long an item stays reserved for the annotator it was handed to."
    )
    model_name = forms.CharField(
        max_length=500,
        required=False,
        label="Model",
        help_text="The model this project's jobs use by default (a local folder or a model name); empty: the site's default.",
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class PrincipleForm(forms.Form):
    """Add a principle, or edit one (``principle``: its id). Its interpretive
    guidance comes as one textarea per kind of entry (``GUIDANCE_KINDS``), one
    entry a line; ``cleaned_data["guidance"]`` is the list the services take
    (and check: ``guidance_clean``)."""

    principle = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    canon = forms.CharField(
        label="Canons",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="How to read the principle, one a line (e.g. “read ‘harm’ as harm to a person, not to a system”).",
    )
    counts = forms.CharField(
        label="Counts when",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Worked examples where the principle applies, one a line.",
    )
    excludes = forms.CharField(
        label="Does not count when",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Worked examples where it does not, one a line.",
    )

    def clean(self):
        data = super().clean()
        data["guidance"] = [
            {"kind": kind, "text": line} for kind in GUIDANCE_KINDS for line in _lines(data.get(kind, ""))
        ]
        return data


def guidance_initial(guidance) -> dict[str, str]:
    """The guidance textareas' text for a stored guidance list (one entry a line)."""
    return {kind: "\n".join(e["text"] for e in guidance or [] if e.get("kind") == kind) for kind in GUIDANCE_KINDS}


class PrincipleActionForm(forms.Form):
    """Move a principle up or down, retire or restore it."""

    principle = forms.IntegerField(widget=forms.HiddenInput)


def options_from_text(text: str) -> list:
    """Options typed one per line: ``value`` or ``value | description``; a line that starts with
    spaces is a subcategory of the category above it. Entries as ``question_add`` takes them."""
    entries: list[dict] = []
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        value, _, description = line.strip().partition("|")
        entry = {"value": value.strip(), "description": description.strip()}
        if line[:1].isspace() and entries:
            entries[-1].setdefault("subcategories", []).append(entry)
        else:
            entries.append(entry)
    return entries


def options_to_text(options: list[dict]) -> str:
    """The stored (flat) options back as :func:`options_from_text` reads them."""
    lines = []
    for option in options:
        line = option["value"] + (f" | {option['description']}" if option.get("description") else "")
        lines.append(("  " if option.get("parent") else "") + line)
    return "\n".join(lines)


class QuestionForm(forms.Form):
    """Add a custom question, or edit one (``question``: its id; key, type and target then stay).
    Parsing only: every rule is ``question_add`` / ``question_update``'s."""

    question = forms.IntegerField(required=False, widget=forms.HiddenInput)
    key = forms.CharField(
        max_length=64,
        required=False,
        help_text="Lower-case letters, digits and _: the export column; it cannot change.",
    )
    type = forms.ChoiceField(choices=QuestionType.choices, required=False)
    target = forms.ChoiceField(choices=QuestionTarget.choices, required=False, label="Asked about")
    label = forms.CharField(max_length=300, label="Question")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    required = forms.BooleanField(required=False)
    kinds = forms.MultipleChoiceField(
        choices=Kind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Asked on",
        help_text="None ticked: every kind the project has.",
    )
    options = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Single choice and multi-label: one per line, 'value | description'; indent a line to make it "
        "a subcategory of the one above.",
    )
    taxonomy = forms.FileField(
        required=False,
        label="Or a taxonomy file",
        help_text='JSON: a list of categories, each a name or {"name", "description", "subcategories": [...]}.',
    )
    scale = forms.IntegerField(required=False, help_text="Rating: the number of points (answers 1..N).")
    low_label = forms.CharField(max_length=100, required=False, label="Label of 1")
    high_label = forms.CharField(max_length=100, required=False, label="Label of N")
    max_length = forms.IntegerField(required=False, label="Most characters", help_text="Free text.")

    def spec(self) -> dict:
        """The definition the services take (call after ``is_valid()``; the taxonomy is read by the view)."""
        data = self.cleaned_data
        spec = {
            name: data[name]
            for name in ("label", "description", "required", "kinds", "scale", "low_label", "high_label", "max_length")
        }
        spec["options"] = options_from_text(data["options"]) if data["options"].strip() else None
        if not data.get("question"):
            spec.update(key=data["key"], type=data["type"], target=data["target"] or "item")
        return spec


class QuestionActionForm(forms.Form):
    """Move a question up or down, retire or restore it."""

    question = forms.IntegerField(widget=forms.HiddenInput)
