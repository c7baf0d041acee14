"""A curator in a real browser (Debian's Chromium) on the disagreement
dashboard: drill down into the most disputed item, read its annotations with
their rationale, exclude it, and see the row and the database agree."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Annotator, Item, Role
from annotate.services.annotations import AnnotationInput, annotation_record
from curation.models import Audit, ItemAudit
from tests.browser.conftest import browser_type_launch_args  # noqa: F401 - the fixture: Debian's chromium
from tests.curation.test_browser import XSS, log_in
from tests.factories import MembershipFactory, PrincipleFactory, ProjectFactory, UserFactory, make_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_disagreement_drill_down_and_exclude(page: Page, live_server):
    project = ProjectFactory(slug="audit-browser", name="Audit browser", overlap=2, max_overlap=3)
    curator = UserFactory(username="cur-audit")
    MembershipFactory(project=project, user=curator, role=Role.CURATOR)
    honest = PrincipleFactory(project=project, name="honesty")
    disputed = make_item(project, "pairwise", texts=[f"Paris {XSS}", "Lyon"])
    calm = make_item(project, "pairwise", texts=["Yes.", "No."])
    judges = [
        Annotator.objects.create(type=Annotator.Type.MODEL, name=f"judge {i}", model_name=f"m{i}") for i in range(2)
    ]
    for judge, choice in zip(judges, ["A", "B"], strict=True):
        annotation_record(
            item=disputed,
            annotator=judge,
            data=AnnotationInput(
                choice=choice,
                rationale=f"{judge.name} says {choice} because of the *facts*",
                verdicts={honest.pk: choice},
            ),
        )
        annotation_record(item=calm, annotator=judge, data=AnnotationInput(choice="A", rationale="easy"))
    audit = Audit.objects.create(project=project, summary={"version": 1})
    ItemAudit.objects.create(audit=audit, item=calm, n_judgments=2, majority_share=1.0, entropy=0.0, disagreement=0.0)
    ItemAudit.objects.create(
        audit=audit,
        item=disputed,
        n_judgments=2,
        majority_share=0.5,
        entropy=1.0,
        disagreement=0.5,
        consensus={"choice": None, "method": "majority"},
        flags=["no_consensus"],
    )

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, live_server, curator)

    page.goto(f"{live_server.url}/p/{project.slug}/curate/")
    page.get_by_role("link", name="Audit", exact=True).click()
    page.get_by_role("link", name="Disagreement", exact=True).click()
    rows = page.locator("#disagreement tbody tr")
    expect(rows).to_have_count(2)
    top = rows.first
    expect(top).to_have_attribute("id", f"row-{disputed.uuid}")
    expect(top).to_contain_text("no_consensus")

    top.locator("a.drill-link").click()  # htmx: the panel loads beside the table
    panel = page.locator("#drill .panel")
    expect(panel).to_have_attribute("data-item", str(disputed.uuid))
    annotations = panel.locator("#drill-annotations tbody tr")
    expect(annotations).to_have_count(2)
    expect(annotations.nth(0)).to_contain_text("judge 0")
    expect(annotations.nth(0).locator("td.rationale em")).to_have_text("facts")
    expect(annotations.nth(1)).to_contain_text("judge 1 says B because of the")
    expect(annotations.nth(0)).to_contain_text("honesty: Favours A")
    assert page.url.endswith("/audit/disagreement/")  # no navigation: an htmx swap
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None

    panel.get_by_role("button", name="Exclude this item").click()
    expect(panel.get_by_role("button", name="Include this item again")).to_be_visible()
    expect(page.locator("#drill-state")).to_contain_text("excluded")
    # The row was swapped out of band: marked excluded, its button now includes.
    row = page.locator(f"#row-{disputed.uuid}")
    expect(row).to_have_class("excluded")
    expect(row.locator("td.item-state")).to_contain_text("excluded")
    expect(row.get_by_role("button", name="Include")).to_be_visible()
    assert Item.objects.get(pk=disputed.pk).excluded
    assert not Item.objects.get(pk=calm.pk).excluded

    # The row's own button (htmx swap of the row) takes it back.
    row.get_by_role("button", name="Include").click()
    expect(page.locator(f"#row-{disputed.uuid}").get_by_role("button", name="Exclude")).to_be_visible()
    assert not Item.objects.get(pk=disputed.pk).excluded
    assert not errors, errors


def test_ches_threshold_counts_update_as_you_type(page: Page, live_server):
    project = ProjectFactory(slug="ches-browser", name="CHES browser")
    curator = UserFactory(username="cur-ches")
    MembershipFactory(project=project, user=curator, role=Role.CURATOR)
    audit = Audit.objects.create(project=project, summary={"version": 1, "ches": {"status": "ok", "model": "tiny"}})
    for index, score in enumerate([-2.0, -1.0, 0.5, 1.0, 3.0]):
        item = make_item(project, "pairwise", texts=[f"chosen {index}", f"rejected {index}"])
        chosen, rejected = item.ordered_responses()
        ItemAudit.objects.create(
            audit=audit, item=item, n_judgments=2, chosen=chosen, rejected=rejected, ches=score, ln_ches=score
        )
    log_in(page, live_server, curator)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/audit/ches/")
    expect(page.locator("#ches-histogram svg rect.bin")).to_have_count(30)
    expect(page.locator("article.pair").first).to_contain_text("chosen 4")
    page.select_option("#id_mode", "value")
    page.fill("#id_value", "0")
    expect(page.locator("#ches-drop strong")).to_have_text("3")  # 0.5, 1 and 3 lie above 0
    page.fill("#id_value", "1.5")
    expect(page.locator("#ches-drop strong")).to_have_text("1")
    # The histogram is redrawn with the cut: only the bin of 3.0 is both over it and non-empty.
    expect(page.locator('#ches-histogram svg rect.bin.over:not([data-count="0"])')).to_have_count(1)
    assert page.url.endswith("/audit/ches/")  # updated in place by htmx


def test_ambiguity_dashboard_from_the_audit_navigation_to_an_item(page: Page, live_server):
    """docs/algorithms.md#principle-ambiguity: a real audit of two people and a judge, the
    Ambiguity link in the audit navigation, the ranked plot, and a split item's verdicts."""
    from tests.audit.helpers import run_audit

    project = ProjectFactory(slug="ambiguity-browser", name="Ambiguity browser", overlap=3, max_overlap=3)
    curator = UserFactory(username="cur-ambiguity")
    MembershipFactory(project=project, user=curator, role=Role.CURATOR)
    vague = PrincipleFactory(project=project, name="be good")
    clear = PrincipleFactory(project=project, name="cite sources <img src=x onerror=alert(1)>")
    people = [Annotator.objects.create(user=UserFactory(username=f"amb{i}"), name=f"person {i}") for i in range(2)] + [
        Annotator.objects.create(type=Annotator.Type.MODEL, name="judge", model_name="m")
    ]
    split_item = make_item(project, "pairwise", texts=["Maybe.", "Perhaps."])
    for index, item in enumerate([split_item, make_item(project, "pairwise"), make_item(project, "pairwise")]):
        for who, annotator in enumerate(people):
            vague_verdict = ("A", "B", "na")[who] if index == 0 else "A"
            annotation_record(
                item=item,
                annotator=annotator,
                data=AnnotationInput(
                    choice="A",
                    rationale=f"{annotator.name} on *{index}*",
                    verdicts={vague.pk: vague_verdict, clear.pk: "A"},
                ),
            )
    run_audit(project, n_boot=50)

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, live_server, curator)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/audit/")
    page.get_by_role("navigation", name="Audit dashboards").get_by_role("link", name="Ambiguity").click()
    expect(page.get_by_role("heading", name="Principle ambiguity")).to_be_visible()
    section = page.locator("#kind-pairwise")
    expect(section.locator("figure svg")).to_have_count(1)
    names = section.locator("table.ambiguity-ranking tbody tr td:nth-child(2) a:not(.refine-link)")
    expect(names.first).to_have_text("be good")  # the split principle ranks first
    expect(names.nth(1)).to_contain_text("cite sources")  # escaped, not run
    page.get_by_role("link", name="Humans").click()
    expect(page).to_have_url(f"{live_server.url}/p/{project.slug}/curate/audit/ambiguity/?group=human")
    page.goto(f"{live_server.url}/p/{project.slug}/curate/audit/ambiguity/")
    page.locator(f"#split-pairwise-{vague.pk} a").first.click()
    expect(page).to_have_url(f"{live_server.url}/p/{project.slug}/curate/audit/items/{split_item.uuid}/")
    expect(page.get_by_text("be good: Favours B")).to_be_visible()
    expect(page.get_by_text("person 0 on 0")).to_be_visible()  # rationale rendered from markdown
    assert not errors, errors
