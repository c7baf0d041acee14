"""The annotator's submission form: screen terms in, canonical ``AnnotationInput`` out.

What the browser posts is in *screen* terms: for a pairwise item ``left`` and
``right`` are the two sides of the screen, and which response sat on which
side is the assignment's ``display_order``. The canonical terms the database
stores are positional on the item: ``A`` is the item's response at position 0,
``B`` the one at position 1. ``SubmitForm`` does the mapping, so a shuffled
screen never leaks into the stored choice.

Posted fields (the HTTP contract bench/annotate_load.py relies on):

``idempotency_key``   a uuid rendered by the server with each lease
``choice``            pairwise ``left``/``right``/``tie``/``both_bad``; thumb ``up``/``down``
``strength``          pairwise, optional ``1``-``3`` (only with left/right)
``ranking``           JSON list of groups of response uuids, best first
                      (a flat list of uuids means no ties); without JavaScript
                      the form posts ``rank_<response uuid>`` numbers instead
``critique``, ``corrected_response``  judgment
``rationale``         every kind, optional
``verdict_<principle id>``  pairwise ``left``/``right``/``neither``/``na``;
                      other kinds ``A`` (upholds) / ``neither`` (violates) / ``na``
``time_spent_ms``     measured in the browser
``q_<key>``           a custom question about the item: single choice and rating one value,
                      multi-label any number of values (none checked: none applies), text
``q_<key>__<n>``      a custom question about each response: the same, for the response
                      shown n-th on screen (1-based)
"""

from __future__ import annotations

import functools

from django import forms
from django.core.exceptions import ValidationError

from annotate import jsoninput
from annotate.models import Assignment, Kind, Principle, Question, QuestionTarget, QuestionType, Verdict
from annotate.services.annotations import AnnotationInput
from annotate.services.answers import answers_required, answers_validate

PAIRWISE_SCREEN_CHOICES = [
    ("left", "A (left) is better"),
    ("right", "B (right) is better"),
    ("tie", "Tie"),
    ("both_bad", "Both bad"),
]
THUMB_CHOICES = [("up", "Thumbs up"), ("down", "Thumbs down")]
STRENGTH_CHOICES = [("1", "Slightly"), ("2", "Clearly"), ("3", "Much")]
PAIRWISE_VERDICTS = [("left", "Favours A"), ("right", "Favours B"), ("neither", "Neither"), ("na", "n/a")]
SINGLE_VERDICTS = [("A", "Upholds"), ("neither", "Violates"), ("na", "n/a")]
MAX_TIME_SPENT_MS = 24 * 3600 * 1000
MAX_RANKING_CHARS = 20_000  # a ranking of 400 response uuids; items have a handful


def _base_fields() -> dict[str, forms.Field]:
    return {
        "idempotency_key": forms.UUIDField(),
        "choice": forms.CharField(required=False),
        "strength": forms.TypedChoiceField(choices=STRENGTH_CHOICES, coerce=int, required=False, empty_value=None),
        "ranking": forms.CharField(required=False, max_length=MAX_RANKING_CHARS),
        "critique": forms.CharField(required=False, max_length=50_000, strip=True),
        "corrected_response": forms.CharField(required=False, max_length=200_000, strip=True),
        "rationale": forms.CharField(required=False, max_length=20_000, strip=True),
        "time_spent_ms": forms.IntegerField(required=False, min_value=0),
    }


def question_field(question: Question, screen_index: int | None = None) -> str:
    """The posted field of a question (about the item), or of its answer about the response shown
    ``screen_index``-th (1-based)."""
    return f"q_{question.key}" if screen_index is None else f"q_{question.key}__{screen_index}"


@functools.lru_cache(maxsize=512)
def _shared_fields(
    kind: str, principles: tuple[tuple[int, str], ...], question_fields: tuple[str, ...] = ()
) -> dict[str, forms.Field]:
    """The fields of a submission of ``kind`` with these ``(id, name)`` principles, built once.

    Django deep-copies a form's declared fields for every instance (a form may
    change its own); on the annotate loop that copying was about a twelfth of
    a request's CPU. These are finished here and never changed afterwards, so
    forms share them (cleaning a value does not change a field).
    """
    fields = _base_fields()
    if kind == Kind.PAIRWISE:
        fields["choice"] = forms.ChoiceField(
            choices=PAIRWISE_SCREEN_CHOICES, error_messages={"required": "Choose left, right, tie or both bad."}
        )
    elif kind == Kind.THUMB:
        fields["choice"] = forms.ChoiceField(
            choices=THUMB_CHOICES, error_messages={"required": "Choose thumbs up or down."}
        )
    if kind == Kind.JUDGMENT:
        fields["critique"] = forms.CharField(
            max_length=50_000, strip=True, error_messages={"required": "Write a critique of the response."}
        )
    verdict_choices = PAIRWISE_VERDICTS if kind == Kind.PAIRWISE else SINGLE_VERDICTS
    for pk, name in principles:
        fields[f"verdict_{pk}"] = forms.ChoiceField(choices=verdict_choices, required=False, label=name)
    for name in question_fields:
        # Read from the posted data in ``SubmitForm.clean`` (a multi-label question posts several
        # values) and checked by the answers service; declared so errors attach to them.
        fields[name] = forms.Field(required=False)
    return fields


class SubmitForm(forms.Form):
    """A submission of one lease; its fields depend on the item's kind and the project's principles.

    The fields (see ``_shared_fields``) are declared per kind rather than on
    the class, and shared between instances.
    """

    def __init__(
        self, *args, assignment: Assignment, principles: list[Principle], questions: list[Question] = (), **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.assignment = assignment
        self.item = assignment.item
        self.kind = self.item.kind
        self.principles = principles
        # Response uuids in the item's canonical order (position 0 = A).
        self.canonical = self.item.response_uuids()
        self.screen = [str(u) for u in (assignment.display_order or self.canonical)]
        # Every question in use (for the answers service) and those asked on this kind (shown).
        self.all_questions = list(questions)
        self.questions = [q for q in self.all_questions if self.kind in q.current.kinds]
        self.answers: dict = {}
        self.fields = dict(
            _shared_fields(self.kind, tuple((p.pk, p.name) for p in principles), tuple(self._question_fields()))
        )
        if self.kind == Kind.RANKING:
            for uuid in self.screen:
                self.fields[f"rank_{uuid}"] = forms.IntegerField(
                    required=False, min_value=1, max_value=len(self.screen)
                )

    def _question_fields(self):
        for question in self.questions:
            if question.target == QuestionTarget.ITEM:
                yield question_field(question)
            else:
                for index in range(1, len(self.screen) + 1):
                    yield question_field(question, index)

    def _posted_answer(self, question: Question, name: str):
        if question.type == QuestionType.MULTI_LABEL:
            return self.data.getlist(name) if hasattr(self.data, "getlist") else list(self.data.get(name) or [])
        return self.data.get(name)

    def _clean_answers(self) -> None:
        """The posted answers in the service's terms (response answers by uuid), checked by the one
        rule (``answers_validate``); its errors go to the fields they name."""
        answers: dict = {}
        for question in self.questions:
            if question.target == QuestionTarget.ITEM:
                answers[question.key] = self._posted_answer(question, question_field(question))
            else:
                answers[question.key] = {
                    uuid: self._posted_answer(question, question_field(question, index))
                    for index, uuid in enumerate(self.screen, start=1)
                }
        self.answers = answers
        try:
            # The service's rule (a person's judgment answers the required questions), checked here
            # too so that every error of the form shows at once.
            answers_validate(
                item=self.item,
                answers=answers,
                questions=self.all_questions,
                require=answers_required(self.assignment.annotator),
            )
        except ValidationError as error:
            self.add_service_errors(error)

    def add_service_errors(self, error: ValidationError) -> None:
        """Put the field errors of ``annotation_record`` / ``answers_validate`` on this form's fields
        (``answers.<key>[.<response uuid>]`` to the question's field shown for it)."""
        screen_index = {uuid: n for n, uuid in enumerate(self.screen, start=1)}
        for name, messages in error.message_dict.items():
            parts = name.split(".")
            if parts[0] == "answers" and len(parts) >= 2:
                field = f"q_{parts[1]}" if len(parts) == 2 else f"q_{parts[1]}__{screen_index.get(parts[2], 0)}"
            else:
                field = name
            self.add_error(field if field in self.fields else None, messages)

    # Screen -> canonical -------------------------------------------------

    def _canonical_side(self, screen_side: str) -> str:
        """'left'/'right' -> 'A'/'B' via the display order of this lease."""
        uuid = self.screen[0 if screen_side == "left" else 1]
        return "A" if self.canonical.index(uuid) == 0 else "B"

    def clean_time_spent_ms(self):
        value = self.cleaned_data.get("time_spent_ms")
        return None if value is None else min(value, MAX_TIME_SPENT_MS)

    def clean_ranking(self):
        if self.kind != Kind.RANKING:
            if self.cleaned_data.get("ranking"):
                raise forms.ValidationError("Only ranking items take a ranking.")
            return None
        raw = self.cleaned_data.get("ranking") or ""
        if not raw.strip():
            return None  # maybe posted as rank_<uuid> fields; see clean()
        try:
            # a ranking is a list of groups: two levels (annotate.jsoninput refuses deeper nesting, odd numbers)
            value = jsoninput.loads(raw, max_depth=2)
        except jsoninput.JSONInputError as exc:
            message = exc.message.removeprefix("invalid JSON: ")
            raise forms.ValidationError(f"Ranking is not a valid JSON list of groups ({message}).") from None
        if not isinstance(value, list):
            raise forms.ValidationError("Ranking must be a list of groups of response ids, best first.")
        if len(value) > len(self.screen):
            raise forms.ValidationError(f"Ranking has {len(value)} groups for {len(self.screen)} responses.")
        groups = []
        for entry in value:
            group = entry if isinstance(entry, list) else [entry]
            if not all(isinstance(r, str) for r in group):
                raise forms.ValidationError("Ranking must hold response ids (strings).")
            groups.append(group)
        return groups

    def _ranking_from_numbers(self) -> list[list[str]] | None:
        ranks = {uuid: self.cleaned_data.get(f"rank_{uuid}") for uuid in self.screen}
        if all(rank is None for rank in ranks.values()):
            return None
        missing = [i + 1 for i, uuid in enumerate(self.screen) if ranks[uuid] is None]
        if missing:
            raise forms.ValidationError(
                {"ranking": f"Give every response a rank (missing: response {', '.join(map(str, missing))})."}
            )
        by_rank: dict[int, list[str]] = {}
        for uuid in self.screen:
            by_rank.setdefault(ranks[uuid], []).append(uuid)
        return [by_rank[rank] for rank in sorted(by_rank)]

    def clean(self):
        data = super().clean()
        wanted = {Kind.PAIRWISE: 2, Kind.THUMB: 1, Kind.JUDGMENT: 1}.get(self.kind)
        if (wanted and len(self.screen) != wanted) or (self.kind == Kind.RANKING and len(self.screen) < 2):
            raise forms.ValidationError(f"This {self.kind} item has {len(self.screen)} responses; skip it.")
        if self.kind == Kind.RANKING and not self.errors.get("ranking"):
            if data.get("ranking") is None:
                data["ranking"] = self._ranking_from_numbers()
            if not data.get("ranking"):
                self.add_error("ranking", "Rank every response (1 = best; equal numbers are ties).")
            else:
                flat = [r for group in data["ranking"] for r in group]
                if sorted(flat) != sorted(self.screen):
                    self.add_error("ranking", "Rank every response exactly once.")
        strength = data.get("strength")
        if strength is not None and (self.kind != Kind.PAIRWISE or data.get("choice") not in ("left", "right")):
            self.add_error("strength", "Strength only applies when one side is preferred.")
        if self.questions:
            self._clean_answers()
        return data

    def to_input(self) -> AnnotationInput:
        """The canonical submission (call after ``is_valid()``)."""
        data = self.cleaned_data
        choice = data.get("choice") or ""
        if self.kind == Kind.PAIRWISE and choice in ("left", "right"):
            choice = self._canonical_side(choice)
        verdicts: dict[int, str] = {}
        versions: dict[int, int] = {}
        for principle in self.principles:
            value = data.get(f"verdict_{principle.pk}")
            if not value:
                continue
            if self.kind == Kind.PAIRWISE and value in ("left", "right"):
                value = self._canonical_side(value)
            verdicts[principle.pk] = Verdict(value).value
            # The wording the page showed (a hidden field beside the verdict); the
            # service checks it is one of this principle's versions.
            shown = str(self.data.get(f"version_{principle.pk}") or "")
            if shown.isdigit() and len(shown) < 19:
                versions[principle.pk] = int(shown)
        return AnnotationInput(
            choice=choice if self.kind in (Kind.PAIRWISE, Kind.THUMB) else "",
            strength=data.get("strength") if self.kind == Kind.PAIRWISE else None,
            ranking=data.get("ranking") if self.kind == Kind.RANKING else None,
            critique=data.get("critique", "") if self.kind == Kind.JUDGMENT else "",
            corrected_response=data.get("corrected_response", "") if self.kind == Kind.JUDGMENT else "",
            rationale=data.get("rationale", ""),
            verdicts=verdicts,
            versions=versions,
            display_order=list(self.screen),
            time_spent_ms=data.get("time_spent_ms"),
            answers=self.answers,
        )
