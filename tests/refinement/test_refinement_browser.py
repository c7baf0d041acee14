"""An owner in a real browser (Debian's Chromium) rewrites a principle from the
Ambiguity dashboard, asks the annotators again about a sample, and reads the
before/after panel once they have answered (docs/algorithms.md#paired-bootstrap)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Annotator, Item, Rejudgment, Role
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import annotator_for_user, assignment_next
from curation.projects.services import principle_add
from tests.browser.conftest import browser_type_launch_args  # noqa: F401 - the fixture: Debian's chromium
from tests.curation.test_browser import log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rewrite_a_principle_and_see_the_before_after_panel(page: Page, live_server):
    from tests.audit.helpers import run_audit

    project = ProjectFactory(slug="refine-browser", name="Refine browser", overlap=2, max_overlap=2)
    owner = UserFactory(username="owner-refine")
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    vague = principle_add(project=project, name="be good", user=owner)
    people = [Annotator.objects.create(user=UserFactory(username=f"ref{i}"), name=f"person {i}") for i in range(2)]
    items = [make_item(project, "pairwise") for _ in range(4)]
    for index, item in enumerate(items):
        for who, annotator in enumerate(people):
            verdict = "A" if who == 0 or index % 2 == 0 else "B"  # they split on every other item
            annotation_record(
                item=item, annotator=annotator, data=AnnotationInput(choice="A", verdicts={vague.pk: verdict})
            )
    Item.objects.filter(pk__in=[i.pk for i in items]).update(status="done")
    run_audit(project, n_boot=50)

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/audit/ambiguity/")
    page.locator("#kind-pairwise table.ambiguity-ranking").get_by_role("link", name="Refine").click()
    expect(page.get_by_role("heading", name="Refine “be good”")).to_be_visible()
    form = page.locator("form#rewrite")
    form.get_by_label("Description").fill("Prefer the answer that helps the asker <b>without</b> harming anyone.")
    form.get_by_label("Does not count when").fill("Both answers are equally helpful.")
    form.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("heading", name="Version 2 (current)")).to_be_visible()
    expect(page.locator("#current-wording")).to_contain_text("Both answers are equally helpful.")
    expect(page.locator("#current-wording b")).to_have_count(
        0
    )  # markup in the wording is escaped by markdown's sanitiser
    rejudge = page.locator("form#rejudge")
    rejudge.get_by_label("Items").fill("4")
    rejudge.get_by_label("Annotators per item").fill("2")
    rejudge.get_by_role("button", name="Request a re-judgment sample").click()
    expect(page.get_by_text("Asked again about 4 item(s).")).to_be_visible()
    rejudgment = Rejudgment.objects.get()
    expect(page.locator(f"#rejudgment-waiting-{rejudgment.uuid}")).to_be_visible()

    for annotator in people:  # both answer every copy through the queue, and now agree
        person = annotator_for_user(annotator.user)
        for _ in range(4):
            lease = assignment_next(project=project, annotator=person, kind="pairwise")
            annotation_record(
                assignment=lease,
                annotator=person,
                data=AnnotationInput(choice="A", verdicts={vague.pk: "A" if lease.item.rejudge_of.pk % 2 else "B"}),
                idempotency_key=uuid.uuid4(),
            )

    page.get_by_role("button", name="Update comparison").click()
    expect(page.get_by_text("Comparison updated.")).to_be_visible()
    panel = page.locator(f"#rejudgment-{rejudgment.uuid}")
    expect(panel.get_by_role("heading", name="be good: version 1 → version 2")).to_be_visible()
    everyone = panel.locator('tr[data-group="all"]')
    expect(everyone.locator("td").nth(1)).to_have_text("4")
    expect(everyone.locator("td").nth(3)).to_contain_text("1.000")  # α under version 2: they agree
    expect(everyone.locator("td").nth(5)).to_have_text("0.000")  # no split under version 2
    expect(everyone.locator("td").nth(4)).to_have_text("0.500")  # half the items split under version 1
    expect(panel.locator("th", has_text="α v1")).to_be_visible()
    page.get_by_role("link", name="← Ambiguity").click()
    expect(page.locator("#refinement").locator(f"#rejudgment-{rejudgment.uuid}")).to_be_visible()
    assert not errors, errors
