"""Custom questions in a real browser (issue 20): an annotator answers a
multi-label question about each response, a required rating, a single
choice and a note with the keyboard alone (q between questions, letters,
arrows, digits), sees a missing answer refused in place without a page
load, and the answers reach a DPO export loaded with ``datasets``."""

from __future__ import annotations

import io

import datasets
import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from annotate.models import Answer
from curation.models import Dataset
from curation.projects.questions import question_add
from tests.browser.test_annotate_browser import log_in, wait_for_kind
from tests.factories import make_item
from tests.questions.conftest import three_questions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_questions_answered_by_keyboard_then_exported(page: Page, live_server, annotator_user, settings, tmp_path):
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    project, user = annotator_user
    three_questions(project, None)  # defined by the system (no actor)
    question_add(
        project=project,
        user=None,
        spec={"key": "topic", "type": "single_choice", "label": "Topic", "options": ["code", "maths", "other"]},
    )
    make_item(project, kind="pairwise", texts=["Use a password manager.", "Write it on a sticky note."])
    project.randomize_order = False
    project.save(update_fields=["randomize_order"])
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "pairwise")
    page.evaluate("window.__marker = 1")
    expect(page.locator(".shortcuts")).to_contain_text("next / previous question")
    expect(page.locator('[data-question="hazard"] kbd').first).to_have_text("a")

    # Choose A, forget the required rating: refused in place, no page load.
    page.keyboard.press("1")
    page.keyboard.press("Control+Enter")
    expect(page.locator('[data-error-for="q_helpful"]')).to_have_text("required")
    assert page.evaluate("window.__marker") == 1 and not Answer.objects.exists()

    page.keyboard.press("q")  # hazard, response A: nothing applies
    page.keyboard.press("q")  # hazard, response B: d = privacy, c = self_harm, c again = off
    for key in "dcc":
        page.keyboard.press(key)
    page.keyboard.press("q")  # helpful: 1 → 4 with the arrows
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft"):
        page.keyboard.press(key)
    expect(page.locator('input[name="q_helpful"][value="3"]')).to_be_checked()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("q")  # note: the box takes the keyboard
    page.keyboard.type("sticky notes leak")
    page.keyboard.press("Escape")
    page.keyboard.press("q")  # topic: 3 = other
    page.keyboard.press("3")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item[data-done="true"]', timeout=15_000)
    assert page.evaluate("window.__marker") == 1 and not errors

    answers = {
        (a.question.key, a.response.text if a.response else None): a.value
        for a in Answer.objects.select_related("question", "response")
    }
    assert answers == {
        ("hazard", "Use a password manager."): [],
        ("hazard", "Write it on a sticky note."): ["privacy"],
        ("helpful", None): 4,
        ("note", None): "sticky notes leak",
        ("topic", None): "other",
    }

    out = tmp_path / "dpo"
    call_command(
        "export_dataset",
        project.slug,
        "--format",
        "dpo",
        "--plain",
        "--out",
        str(out),
        "--quiet",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    dataset = Dataset.objects.get()
    files = {f["split"]: str(out / f["name"]) for f in dataset.files if f["format"] == "parquet"}
    row = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))["train"][0]
    assert (row["chosen"], row["q_hazard_chosen"], row["q_hazard_rejected"]) == (
        "Use a password manager.",
        [],
        ["privacy"],
    )
    assert (row["q_helpful"], row["q_topic"], row["q_note"]) == (4.0, "other", ["sticky notes leak"])
