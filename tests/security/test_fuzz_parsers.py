"""Hypothesis on the two hand-written parsers of user data: the import line parser and the annotate form.

Fixed budget, derandomized (the same examples every run, a few seconds each).
Values are drawn from what breaks storage: any JSON value (deep, non-finite
and huge numbers, NUL, lone surrogates, odd keys), raw text and bytes.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate import jsoninput
from annotate.forms import SubmitForm
from annotate.models import Item, Kind, Prompt
from annotate.services.annotations import annotation_validate
from annotate.services.assignment import annotator_for_user, assignment_next
from annotate.services.importing import ImportFailed, items_import
from tests.factories import PrincipleFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "\ud83d\ude00", "", " ", "[" * 80, "1e999"]),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**99, max_value=10**120),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=20,
)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def as_line(row) -> str:
    return json.dumps(row, allow_nan=True)  # NaN/Infinity and \ud800 escapes, as a hostile file would have them


import_rows = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["thumb", "pairwise", "x"]), "prompt": nasty_text | json_values},
        optional={
            "responses": st.lists(nasty_text | json_values, max_size=3),
            "metadata": json_values,
            "id": json_values,
        },
    ).map(as_line),
    st.fixed_dictionaries(
        {"prompt": nasty_text, "chosen": nasty_text | json_values, "rejected": nasty_text | json_values},
        optional={"score": json_values},
    ).map(as_line),
    json_values.map(as_line),
    st.integers(min_value=60, max_value=5000).map(
        lambda d: '{"kind": "thumb", "prompt": "p", "responses": ["r"], "metadata": ' + nested(d) + "}"
    ),
    st.text(max_size=60),
)


class _Rollback(Exception):
    pass


def _outcome(call, expected: type[Exception]):
    """What ``call()`` returns, or the ``expected`` exception it raised (any other exception propagates)."""
    try:
        return call()
    except expected as error:
        return error


@FUZZ
@given(lines=st.lists(import_rows, min_size=1, max_size=4))
def test_import_either_stores_every_line_or_names_the_bad_ones(project, lines):
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    before = (Prompt.objects.count(), Item.objects.count())
    try:
        with transaction.atomic():
            report = _outcome(lambda: items_import(project=project, fileobj=io.BytesIO(data)), ImportFailed)
            if isinstance(report, ImportFailed):
                assert report.errors
                for line, _field, message in report.errors:
                    assert line is None or 1 <= line <= len(lines), (line, message)
                    assert message
                assert (Prompt.objects.count(), Item.objects.count()) == before  # all or nothing
            else:
                assert report.items_created + report.items_skipped_duplicate >= 1
                for item in Item.objects.filter(project=project):
                    json.dumps(item.metadata, allow_nan=False)  # what was stored is finite, storable JSON
            raise _Rollback
    except _Rollback:
        pass


@FUZZ
@given(text=st.one_of(json_values.map(as_line), st.text(max_size=80), st.integers(0, 3000).map(nested)))
def test_json_reader_refuses_with_a_reason_or_returns_storable_values(text):
    value = _outcome(lambda: jsoninput.loads(text), jsoninput.JSONInputError)
    if isinstance(value, jsoninput.JSONInputError):
        assert value.message
    else:
        json.dumps(value, allow_nan=False).encode("utf-8")  # finite, and encodable: PostgreSQL can store it
        assert "\\u0000" not in json.dumps(value)


@pytest.fixture
def leases(project):
    project.kinds = list(Kind.values)
    project.save()
    principle = PrincipleFactory(project=project)
    annotator = annotator_for_user(UserFactory())
    found = {}
    for kind in Kind.values:
        make_item(project, kind=kind)
        found[kind] = assignment_next(project=project, annotator=annotator, kind=kind)
    return found, [principle]


form_values = st.one_of(
    nasty_text,
    numbers.map(str),
    json_values.map(as_line),
    st.integers(0, 60_000).map(lambda d: "[" * d),
)


@FUZZ
@given(kind=st.sampled_from(Kind.values), data=st.data())
def test_annotate_form_never_raises_and_what_it_accepts_the_service_accepts(leases, kind, data):
    assignments, principles = leases
    assignment = assignments[kind]
    screen = [str(u) for u in (assignment.display_order or assignment.item.response_uuids())]
    fields = ["choice", "strength", "ranking", "critique", "corrected_response", "rationale", "time_spent_ms"]
    fields += [f"verdict_{p.pk}" for p in principles] + [f"rank_{u}" for u in screen]
    posted = data.draw(st.dictionaries(st.sampled_from(fields), form_values | st.sampled_from(["left", "up", "1"])))
    if data.draw(st.booleans()):  # sometimes a well-formed ranking, to reach the checks behind the parser
        posted["ranking"] = json.dumps(data.draw(st.permutations(screen)))
    # what a browser can post: UTF-8 form data (a lone surrogate cannot be encoded; Django decodes bad bytes
    # to U+FFFD), NUL characters included
    posted = {k: v.encode("utf-8", "replace").decode() for k, v in posted.items()}
    form = SubmitForm({"idempotency_key": str(uuid.uuid4()), **posted}, assignment=assignment, principles=principles)
    if form.is_valid():
        annotation_validate(item=assignment.item, data=form.to_input())  # raises if the form let bad data through
    else:
        assert all(form.errors.values())
