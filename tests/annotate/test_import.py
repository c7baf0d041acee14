"""Importing JSONL files: every good format, every kind of bad file (nothing
written), de-duplication and the management command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from annotate.models import (
    Annotation,
    Annotator,
    Assignment,
    Item,
    ItemResponse,
    PrincipleVerdict,
    Prompt,
    Response,
    content_hash,
)
from annotate.services import importing
from annotate.services.importing import ImportFailed, ImportReport, items_import

DATA = Path(__file__).resolve().parent.parent / "data"
TABLES = (Prompt, Response, Item, ItemResponse, Annotation, Annotator, Assignment, PrincipleVerdict)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def run_import(project, name: str, **kwargs) -> ImportReport:
    with (DATA / name).open("rb") as f:
        return items_import(project=project, fileobj=f, **kwargs)


def from_lines(project, lines: list, **kwargs) -> ImportReport:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    return items_import(project=project, fileobj=io.BytesIO(text.encode("utf-8")), **kwargs)


def texts(item: Item) -> list[str]:
    return [r.text for r in item.ordered_responses()]


# ---------------------------------------------------------------- good files


@pytest.mark.django_db
def test_docket_items_of_every_kind(project):
    report = run_import(project, "docket_items.jsonl")

    assert report.lines == 5  # the blank line is skipped
    assert report.items_created == 5 and report.items_skipped_duplicate == 0
    assert report.by_kind == {"pairwise": 2, "thumb": 1, "ranking": 1, "judgment": 1}
    assert report.prompts_created == 5 and report.responses_created == 9 and report.annotations_created == 0
    assert Item.objects.filter(project=project).count() == 5

    pw = Item.objects.get(project=project, external_id="pw-1")
    assert pw.kind == "pairwise" and pw.status == "open" and pw.annotation_count == 0
    assert pw.prompt.messages == [{"role": "user", "content": "Explain DNS in one sentence."}]
    assert texts(pw) == ["DNS maps names like example.org to IP addresses.", "DNS is a kind of snake."]
    assert pw.metadata == {"topic": "networks"}
    assert pw.prompt.content_hash == content_hash(pw.prompt.messages)
    assert pw.content_hash and pw.prompt.source == "import"

    rk = Item.objects.get(project=project, external_id="rk-1")
    assert texts(rk) == ["7", "9", "2 is the smallest prime."]
    assert [r.model_name for r in rk.ordered_responses()] == ["model-a", "model-b", "model-c"]
    assert all(r.content_hash == content_hash(r.text) for r in rk.ordered_responses())

    jd = Item.objects.get(project=project, external_id="jd-1")
    (response,) = jd.ordered_responses()
    assert response.metadata == {"temperature": 0.7} and response.text.startswith("Leaves fall")
    assert Item.objects.get(project=project, external_id="th-1").kind == "thumb"

    conv = Item.objects.get(project=project, external_id="pw-2")
    assert [m["role"] for m in conv.prompt.messages] == ["system", "user", "assistant", "user"]
    assert conv.prompt.messages[-1]["content"] == "How do I reverse a list?"
    assert texts(conv)[1] == "```python\nxs.reverse()\n```"
    assert Annotator.objects.count() == 0  # Docket items carry no labels


@pytest.mark.django_db
def test_trl_plain_rows_become_labelled_pairwise_items(project):
    report = run_import(project, "trl_plain.jsonl", source_name="my-prefs")

    assert report.items_created == 2 and report.annotations_created == 2 and report.by_kind == {"pairwise": 2}
    annotator = Annotator.objects.get()
    assert annotator.type == "imported" and annotator.name == "imported:my-prefs"
    sky = Item.objects.get(prompt__messages=[{"role": "user", "content": "What colour is the sky?"}])
    assert sky.kind == "pairwise" and sky.external_id == ""
    # Canonical order: by content hash, not chosen-first.
    hashes = [r.content_hash for r in sky.ordered_responses()]
    assert hashes == sorted(hashes)
    annotation = sky.annotations.get()
    chosen_position = texts(sky).index("Blue, on a clear day.")
    assert annotation.annotator == annotator and annotation.kind == "pairwise"
    assert annotation.choice == "AB"[chosen_position]
    assert annotation.metadata["import"] == {"source": "my-prefs", "format": "trl", "line": 1}
    # Extra keys are kept; the imported label counts as a judgment (overlap 2: still open).
    assert sky.metadata == {"score_chosen": 9.0, "score_rejected": 2.0, "import_format": "trl"}
    assert (sky.annotation_count, sky.slots_taken, sky.status) == (1, 1, "open")


@pytest.mark.django_db
def test_chosen_is_not_always_a(project):
    rows = [
        {"prompt": f"Question {i}?", "chosen": f"Good answer {i}.", "rejected": f"Bad answer {i}."} for i in range(20)
    ]
    from_lines(project, rows)
    choices = set(Annotation.objects.values_list("choice", flat=True))
    assert choices == {"A", "B"}


@pytest.mark.django_db
def test_imported_label_completes_an_item_when_overlap_is_one(project):
    project.overlap = 1
    project.save()
    run_import(project, "trl_plain.jsonl")
    assert set(Item.objects.values_list("status", "annotation_count", "slots_taken")) == {("done", 1, 1)}
    assert Annotator.objects.get().name == "imported:dataset"


@pytest.mark.django_db
def test_trl_conversational_and_implicit_prompt(project):
    report = run_import(project, "trl_conversational.jsonl")

    assert report.items_created == 2 and report.annotations_created == 2
    sky = Item.objects.get(prompt__messages=[{"role": "user", "content": "What colour is the sky?"}])
    assert sorted(texts(sky)) == ["Blue, on a clear day.", "Green."]
    assert texts(sky)["AB".index(sky.annotations.get().choice)] == "Blue, on a clear day."
    paris = Item.objects.get(prompt__messages=[{"role": "user", "content": "Capital of France?"}])
    assert texts(paris)["AB".index(paris.annotations.get().choice)] == "Paris."


@pytest.mark.django_db
def test_anthropic_hh_single_and_multi_turn(project):
    report = run_import(project, "hh.jsonl", source_name="hh-rlhf")

    assert report.items_created == 2 and report.annotations_created == 2
    peru = Item.objects.get(prompt__messages=[{"role": "user", "content": "What is the capital of Peru?"}])
    assert sorted(texts(peru)) == ["I don't know.", "Lima."]
    assert texts(peru)["AB".index(peru.annotations.get().choice)] == "Lima."
    assert peru.metadata == {"import_format": "hh"}

    book = Item.objects.exclude(pk=peru.pk).get()
    assert book.prompt.messages == [
        {"role": "user", "content": "Can you recommend a book?"},
        {"role": "assistant", "content": "What genre do you like?"},
        {"role": "user", "content": "Science fiction."},
    ]
    assert sorted(texts(book)) == ["Books are boring.", "Try The Left Hand of Darkness by Ursula K. Le Guin."]
    annotation = book.annotations.get()
    assert texts(book)["AB".index(annotation.choice)].startswith("Try The Left Hand")
    assert annotation.annotator.name == "imported:hh-rlhf" and annotation.metadata["import"]["format"] == "hh"


@pytest.mark.django_db
def test_bom_crlf_and_blank_lines_are_accepted(project):
    report = run_import(project, "bom_crlf.jsonl")
    assert report.items_created == 2 and report.lines == 2
    assert Item.objects.get(external_id="b-1").prompt.messages[0]["content"] == "Café?"


@pytest.mark.django_db
def test_uploaded_file_and_shared_prompts(project):
    rows = [
        {"id": 1, "kind": "thumb", "prompt": "Same prompt", "responses": ["first"]},
        {"id": 2, "kind": "judgment", "prompt": "Same prompt", "responses": ["first"]},
        {"id": 3, "kind": "pairwise", "prompt": "Same prompt", "responses": ["first", "second"]},
    ]
    upload = SimpleUploadedFile("items.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    report = items_import(project=project, fileobj=upload, source_name="items.jsonl")
    assert (report.items_created, report.prompts_created, report.responses_created) == (3, 1, 2)
    assert Prompt.objects.count() == 1 and Response.objects.count() == 2
    assert set(Item.objects.values_list("external_id", flat=True)) == {"1", "2", "3"}


# ---------------------------------------------------------------- bad files


def assert_fails(project, fileobj, *expected: str) -> ImportFailed:
    before = counts()
    with pytest.raises(ImportFailed) as info:
        items_import(project=project, fileobj=fileobj)
    assert counts() == before, "a failed import must write nothing"
    message = str(info.value)
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"
    return info.value


BAD_FILES = [
    ("bad_json_line3.jsonl", ["line 3: invalid JSON: Expecting ',' delimiter (column"]),
    ("bad_unknown_kind.jsonl", ["line 2: field 'kind': unknown kind \"multiple_choice\""]),
    ("bad_too_few_responses.jsonl", ["line 2: field 'responses': a ranking item takes 3 to 20 responses, got 2"]),
    ("bad_duplicate_responses.jsonl", ["line 1: field 'responses[1]': is the same text as responses[0]"]),
    (
        "bad_wrong_types.jsonl",
        [
            "line 2: field 'responses': expected a list of strings",
            "line 3: field 'prompt': expected a string or a list of messages, got a number",
            "line 4: field 'prompt[0].role': expected one of system, user, assistant",
            "line 5: field 'responses[0].text': expected a string, got a number",
            "line 6: field 'metadata': expected an object, got a list",
        ],
    ),
    (
        "bad_hh.jsonl",
        [
            "line 2: field 'chosen': no '\\n\\nHuman:'",
            "line 3: field 'rejected': the conversation before the last Assistant turn differs",
        ],
    ),
    ("latin1.jsonl", ["line 2 is not valid UTF-8 (byte 0xe9 at byte"]),
    ("empty.jsonl", ["the file is empty"]),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "expected"), BAD_FILES, ids=[name for name, _ in BAD_FILES])
def test_bad_files_import_nothing(project, name, expected):
    # Something already in the project must stay as it is.
    from_lines(project, [{"id": "keep", "kind": "thumb", "prompt": "Already here", "responses": ["yes"]}])
    with (DATA / name).open("rb") as f:
        error = assert_fails(project, f, *expected)
    assert all(isinstance(e, tuple) and len(e) == 3 for e in error.errors)


@pytest.mark.django_db
def test_error_tuples_name_line_and_field(project):
    with (DATA / "bad_wrong_types.jsonl").open("rb") as f:
        error = assert_fails(project, f)
    assert [(line, field) for line, field, _ in error.errors] == [
        (2, "responses"),
        (3, "prompt"),
        (4, "prompt[0].role"),
        (5, "responses[0].text"),
        (6, "metadata"),
    ]


@pytest.mark.django_db
def test_huge_line(project):
    big = json.dumps({"kind": "thumb", "prompt": "x" * (importing.MAX_LINE_BYTES + 10), "responses": ["y"]})
    ok = json.dumps({"kind": "thumb", "prompt": "fine", "responses": ["y"]})
    data = f"{ok}\n{big}\n{ok.replace('fine', 'also fine')}\n".encode()
    error = assert_fails(project, io.BytesIO(data), "line 2 is longer than 1 MiB")
    assert len(error.errors) == 1  # the lines after the long one are read normally


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("\ufeff{}".encode("utf-16"), "the file is UTF-16 encoded"),
        (b"\x1f\x8b\x08\x00compressed", "gzip-compressed"),
        (b'{"kind": "thumb", "prompt": "p", "responses": ["a\\u0000b"]}\n', "field 'responses[0]': contains a NUL"),
        (b'{"kind": "thumb", "prompt": "p", "responses": ["\\ud800"]}\n', "unpaired surrogate"),
        (
            b'{"kind": "thumb", "prompt": "p", "responses": ["a"], "metadata": {"x": NaN}}\n',
            "field 'metadata.x': must be a finite number",
        ),
        (b'[{"kind": "thumb", "prompt": "p", "responses": ["a"]}]\n', "line 1: expected a JSON object"),
        (b'{"text": "what is this?"}\n', "line 1: unrecognised row"),
        (b'{"kind": "thumb", "responses": ["a"]}\n', "line 1: field 'prompt': is missing"),
        (b'{"kind": "thumb", "prompt": "  ", "responses": ["a"]}\n', "line 1: field 'prompt': is empty"),
        (b'{"kind": "thumb", "prompt": "p", "responses": ["a", "b"]}\n', "a thumb item takes exactly 1 response, got"),
        (
            b'{"kind": "pairwise", "prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],'
            b' "responses": ["a", "b"]}\n',
            "must end with a user message",
        ),
        (b'{"prompt": "p", "chosen": "same", "rejected": "same"}\n', "field 'rejected': is the same response"),
        (b'{"prompt": "p", "chosen": {"text": "x"}, "rejected": "y"}\n', "field 'chosen': expected a string or a list"),
        (b'{"prompt": "p", "chosen": [{"role": "user", "content": "x"}], "rejected": "y"}\n', "last message must be"),
        (
            b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: ", "rejected": "\\n\\nHuman: hi\\n\\nAssistant:"}\n',
            "field 'rejected': is the same response as 'chosen'",
        ),
        (
            b'{"chosen": "\\n\\nHuman: hi", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: yo"}\n',
            "must end with an Assistant turn",
        ),
        (
            b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: a", "rejected": 3}\n',
            "field 'rejected': expected a transcript",
        ),
        (
            b'{"id": "x", "kind": "thumb", "prompt": "p", "responses": ["a"]}\n'
            b'{"id": "x", "kind": "thumb", "prompt": "p", "responses": ["b"]}\n',
            "line 2: field 'id': \"x\" is already used on line 1",
        ),
        (
            b'{"id": true, "kind": "thumb", "prompt": "p", "responses": ["a"]}\n',
            "field 'id': expected a string or an integer",
        ),
    ],
)
def test_bad_lines(project, data, expected):
    assert_fails(project, io.BytesIO(data), expected)


@pytest.mark.django_db
def test_kind_not_enabled_in_project(project):
    project.kinds = ["pairwise"]
    project.save()
    line = b'{"kind": "thumb", "prompt": "p", "responses": ["a"]}\n'
    assert_fails(project, io.BytesIO(line), "line 1: field 'kind': thumb items are not enabled in this project")
    with (DATA / "hh.jsonl").open("rb") as f:
        assert items_import(project=project, fileobj=f).items_created == 2
    project.kinds = ["thumb"]
    project.save()
    with (DATA / "hh.jsonl").open("rb") as f:
        assert_fails(project, f, "line 1: preference rows become pairwise items")


@pytest.mark.django_db
def test_many_errors_are_summarised(project):
    lines = [b'{"kind": "nope", "prompt": "p", "responses": ["a"]}'] * 50
    error = assert_fails(project, io.BytesIO(b"\n".join(lines)), "line 1:", "line 20:", "and 30 more")
    assert "line 21:" not in str(error)
    assert len(error.errors) == 50 and error.error_count == 50


# ---------------------------------------------------------------- de-duplication


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["docket_items.jsonl", "trl_plain.jsonl", "trl_conversational.jsonl", "hh.jsonl"])
def test_reimport_adds_nothing(project, name):
    first = run_import(project, name)
    before = counts()
    again = run_import(project, name)
    assert counts() == before
    assert again.items_created == again.prompts_created == again.responses_created == again.annotations_created == 0
    assert again.items_skipped_duplicate == first.items_created
    # A renamed copy of a labelled file adds no second imported label either.
    run_import(project, name, source_name="another-name")
    assert Annotation.objects.count() == before["Annotation"]


@pytest.mark.django_db
def test_duplicates_inside_one_file(project):
    row = {"id": "a", "kind": "pairwise", "prompt": "p", "responses": ["x", "y"]}
    same_content_no_id = {"kind": "pairwise", "prompt": "p", "responses": ["y", "x"]}  # same pair, other order
    report = from_lines(project, [row, row, same_content_no_id])
    assert (report.lines, report.items_created, report.items_skipped_duplicate) == (3, 1, 2)
    assert Item.objects.count() == 1 and Response.objects.count() == 2


@pytest.mark.django_db
def test_changed_content_under_a_known_id_is_skipped(project):
    from_lines(project, [{"id": "q1", "kind": "thumb", "prompt": "p", "responses": ["old"]}])
    report = from_lines(project, [{"id": "q1", "kind": "thumb", "prompt": "p", "responses": ["new"]}])
    assert report.items_created == 0 and report.items_skipped_duplicate == 1
    assert texts(Item.objects.get()) == ["old"] and Response.objects.count() == 1


@pytest.mark.django_db
def test_labels_are_added_to_items_imported_before_without_labels(project):
    from_lines(project, [{"id": "dns", "kind": "pairwise", "prompt": "Explain DNS.", "responses": ["good", "bad"]}])
    report = from_lines(project, [{"prompt": "Explain DNS.", "chosen": "good", "rejected": "bad"}], source_name="prefs")
    assert report.items_created == 0 and report.items_skipped_duplicate == 1 and report.annotations_created == 1
    item = Item.objects.get()
    assert item.annotations.get().choice == "A"  # "good" is at position 0 of the existing item
    assert (item.annotation_count, item.slots_taken) == (1, 1)
    # Within one file too: the label of a later repeat is kept.
    report = from_lines(
        project,
        [
            {"kind": "pairwise", "prompt": "Explain TCP.", "responses": ["fine", "wrong"]},
            {"prompt": "Explain TCP.", "chosen": "wrong", "rejected": "fine"},
        ],
    )
    assert (report.items_created, report.items_skipped_duplicate, report.annotations_created) == (1, 1, 1)
    tcp = Item.objects.get(prompt__messages__0__content="Explain TCP.")
    assert texts(tcp)["AB".index(tcp.annotations.get().choice)] == "wrong"


@pytest.mark.django_db
def test_existing_prompts_and_responses_are_reused(project):
    from_lines(project, [{"kind": "thumb", "prompt": "p", "responses": ["x"]}])
    report = from_lines(project, [{"kind": "pairwise", "prompt": "p", "responses": ["x", "y"]}])
    assert (report.items_created, report.prompts_created, report.responses_created) == (1, 0, 1)
    assert Prompt.objects.count() == 1 and Response.objects.count() == 2


# ---------------------------------------------------------------- access and command


@pytest.mark.django_db
def test_only_curators_may_import(project, personas):
    line = b'{"kind": "thumb", "prompt": "p", "responses": ["a"]}\n'
    for role in ("annotator", "researcher", "outsider"):
        with pytest.raises(PermissionDenied):
            items_import(project=project, fileobj=io.BytesIO(line), user=personas[role])
    assert Item.objects.count() == 0
    report = items_import(project=project, fileobj=io.BytesIO(line), user=personas["curator"], source_name="up")
    assert report.items_created == 1
    assert Prompt.objects.get().metadata == {"import": {"source": "up", "by": personas["curator"].username}}


@pytest.mark.django_db
def test_command_imports_and_reports(project):
    out = io.StringIO()
    call_command("import_items", project.slug, str(DATA / "hh.jsonl"), stdout=out)
    assert "2 items created (2 pairwise)" in out.getvalue()
    assert Annotator.objects.get().name == "imported:hh"  # default source name: the file's stem
    out = io.StringIO()
    call_command("import_items", project.slug, str(DATA / "hh.jsonl"), "--source-name", "x", stdout=out)
    assert "0 items created" in out.getvalue() and "2 duplicates skipped" in out.getvalue()


@pytest.mark.django_db
def test_command_fails_with_line_and_field(project):
    before = counts()
    with pytest.raises(CommandError) as info:
        call_command("import_items", project.slug, str(DATA / "bad_unknown_kind.jsonl"))
    assert "Nothing was imported" in str(info.value)
    assert "line 2: field 'kind'" in str(info.value)
    assert counts() == before
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("import_items", "nope", str(DATA / "hh.jsonl"))
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_items", project.slug, str(DATA / "missing.jsonl"))


@pytest.mark.django_db(transaction=True)
def test_command_exit_code(project, tmp_path):
    """Run as a process: errors on stderr and a non-zero exit status."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "import_items", project.slug, str(DATA / "bad_json_line3.jsonl")],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": _test_database_url()},
        timeout=120,
    )
    assert result.returncode != 0
    assert "line 3: invalid JSON" in result.stderr


def _test_database_url() -> str:
    from django.db import connection

    from config import embedded

    return embedded.database_url(connection.settings_dict)


@pytest.mark.django_db
def test_trl_rows_whose_chosen_repeats_the_prompt(project):
    """UltraFeedback-style rows: a prompt string and full conversations in chosen/rejected."""
    row = {
        "prompt": "Name a colour.",
        "chosen": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Teal."}],
        "rejected": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Seven."}],
    }
    from_lines(project, [row])
    item = Item.objects.get()
    assert item.prompt.messages == [{"role": "user", "content": "Name a colour."}]
    assert sorted(texts(item)) == ["Seven.", "Teal."]
    assert texts(item)["AB".index(item.annotations.get().choice)] == "Teal."


@pytest.mark.django_db
def test_label_added_later_completes_the_item_at_its_overlap(project):
    project.overlap = 1
    project.save()
    from_lines(project, [{"kind": "pairwise", "prompt": "q", "responses": ["x", "y"]}])
    assert Item.objects.get().status == "open"
    from_lines(project, [{"prompt": "q", "chosen": "y", "rejected": "x"}])
    item = Item.objects.get()
    assert (item.status, item.annotation_count, item.slots_taken) == ("done", 1, 1)
    assert item.annotations.get().choice == "B"


@pytest.mark.django_db
def test_write_is_retried_when_a_concurrent_writer_wins_a_unique_key(project, monkeypatch):
    """Simulate a generation job inserting one of our responses mid-import: the
    COPY hits the unique key, everything rolls back and the write runs again."""
    original = importing._Inserter.insert
    injected = []

    def insert(self, model, columns, rows, returning=True):
        if model is Response and not injected:
            injected.append(1)
            prompt_id, text, digest = rows[0][:3]
            Response.objects.create(prompt_id=prompt_id, text=text, content_hash=digest)
        return original(self, model, columns, rows, returning)

    monkeypatch.setattr(importing._Inserter, "insert", insert)
    report = run_import(project, "docket_items.jsonl")
    assert injected and report.items_created == 5 and report.responses_created == 9
    assert Response.objects.count() == 9 and Item.objects.count() == 5


# ---------------------------------------------------------------- Anthropic HH transcripts, leniently


def hh_pair(chosen: str, rejected: str) -> dict:
    return {"chosen": chosen, "rejected": rejected}


HH_ACCEPTED = [
    # (what, chosen transcript, the messages it reads as); the rejected one is the same with "No." as the answer
    ("canonical", "\n\nHuman: Hi\n\nAssistant: Hello!", [("user", "Hi"), ("assistant", "Hello!")]),
    (
        "no blank line before the first turn",
        "Human: Hi\n\nAssistant: Hello!",
        [("user", "Hi"), ("assistant", "Hello!")],
    ),
    ("single newlines between turns", "\nHuman: Hi\nAssistant: Hello!", [("user", "Hi"), ("assistant", "Hello!")]),
    ("Windows line ends", "\r\n\r\nHuman: Hi\r\n\r\nAssistant: Hello!", [("user", "Hi"), ("assistant", "Hello!")]),
    (
        "trailing whitespace and indented markers",
        "\n\n  Human: Hi  \n\n\tAssistant: Hello!  \n",
        [("user", "Hi"), ("assistant", "Hello!")],
    ),
    ("no space after the colon", "\n\nHuman:Hi\n\nAssistant:Hello!", [("user", "Hi"), ("assistant", "Hello!")]),
    ("H: and A: markers", "\n\nH: Hi\n\nA: Hello!", [("user", "Hi"), ("assistant", "Hello!")]),
    ("an empty final answer", "\n\nHuman: Hi\n\nAssistant:", [("user", "Hi"), ("assistant", "")]),
    (
        "an empty turn inside the conversation is dropped, the speaker's turns joined",
        "\n\nHuman: Hi\n\nAssistant:\n\nHuman: Anyone?\n\nAssistant: Hello!",
        [("user", "Hi\n\nAnyone?"), ("assistant", "Hello!")],
    ),
    (
        "multi-turn",
        "\n\nHuman: Hi\n\nAssistant: Hey.\n\nHuman: How are you?\n\nAssistant: Hello!",
        [("user", "Hi"), ("assistant", "Hey."), ("user", "How are you?"), ("assistant", "Hello!")],
    ),
    (
        "canonical markers win: a line-start marker inside a turn stays text",
        "\n\nHuman: Write a dialogue.\n\nAssistant: Sure:\nHuman: hi\nAssistant: Hello!",
        [("user", "Write a dialogue."), ("assistant", "Sure:\nHuman: hi\nAssistant: Hello!")],
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("what", "chosen", "expected"), HH_ACCEPTED, ids=[case[0] for case in HH_ACCEPTED])
def test_hh_transcript_variants_are_read(project, what, chosen, expected):
    answer = expected[-1][1]
    # the same transcript with "No." as the answer
    rejected = chosen.rstrip()[: len(chosen.rstrip()) - len(answer)] + "No." if answer else chosen + " No."
    report = from_lines(project, [hh_pair(chosen, rejected)], source_name="hh")
    assert report.items_created == 1, what
    item = Item.objects.get()
    assert [(m["role"], m["content"]) for m in item.prompt.messages] == expected[:-1]
    assert sorted(texts(item)) == sorted([answer, "No."])
    label = Annotation.objects.get()
    chosen_position = 0 if label.choice == "A" else 1
    assert texts(item)[chosen_position] == answer


HH_REFUSED = [
    ("text before the first turn", "Hello\n\nHuman: Hi\n\nAssistant: Yo", "text before the first Human turn"),
    (
        "ends with a Human turn",
        "\n\nHuman: Hi\n\nAssistant: Yo\n\nHuman: And?",
        "the transcript must end with an Assistant",
    ),
    ("no Human turn", "\n\nAssistant: Yo", "expected a Human turn before the final Assistant turn"),
    ("H:/A: that do not alternate", "H: Hi\nA: Yo\nA: again", "'H:' / 'A:' turns that do not alternate"),
    ("no markers at all", "Hi there", "no '\\n\\nHuman:' / '\\n\\nAssistant:' turns found"),
    ("lower-case markers", "human: Hi\n\nassistant: Yo", "no '\\n\\nHuman:'"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("what", "chosen", "expected"), HH_REFUSED, ids=[case[0] for case in HH_REFUSED])
def test_ambiguous_hh_transcripts_are_refused(project, what, chosen, expected):
    row = hh_pair(chosen, "\n\nHuman: Hi\n\nAssistant: Other")
    assert_fails(project, io.BytesIO(json.dumps(row).encode() + b"\n"), f"line 1: field 'chosen': {expected}")


# ---------------------------------------------------------------- skip-invalid mode


@pytest.mark.django_db
def test_skip_invalid_imports_the_valid_lines_and_counts_the_rest(project):
    seen = []
    good = {"kind": "thumb", "prompt": "p", "responses": ["a"]}
    lines = [good, '{"kind": "thumb"', {"kind": "nope", "prompt": "p", "responses": ["a"]}, {**good, "prompt": "q"}]
    report = from_lines(project, lines, skip_invalid=True, on_reject=lambda *a: seen.append(a))
    assert (report.lines, report.items_created, report.lines_rejected) == (4, 2, 2)
    assert [(line, field) for line, field, _ in report.rejected] == [(2, None), (3, "kind")]
    assert [(a[0], a[1], a[3]) for a in seen] == [(2, None, '{"kind": "thumb"'), (3, "kind", json.dumps(lines[2]))]
    assert "2 invalid lines skipped" in report.summary()
    assert report.as_dict()["rejected"][1] == {"line": 3, "field": "kind", "message": report.rejected[1][2]}


@pytest.mark.django_db
def test_all_or_nothing_also_reports_each_bad_line(project):
    seen = []
    with pytest.raises(ImportFailed):
        from_lines(project, ['{"x": 1}', "[]"], on_reject=lambda *a: seen.append(a[0]))
    assert seen == [1, 2] and Item.objects.count() == 0
