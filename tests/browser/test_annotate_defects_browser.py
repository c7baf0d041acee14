"""Browser defects of issue 15 on the annotator pages, each seen in Chromium: shortcuts never type into a
text box, "left" reads the same on the home page and the annotate header, ranking cards stand in rank order."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Annotation
from tests.browser.test_annotate_browser import SWAP_TIMEOUT_MS, log_in, wait_for_kind
from tests.factories import make_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_c_shortcut_focuses_the_critique_without_typing_a_c(page: Page, live_server, annotator_user):
    project, user = annotator_user
    make_item(project, kind="thumb")
    judged = make_item(project, kind="judgment")
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "thumb")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Control+Enter")
    # The judgment comes in; the annotator presses c (the critique shortcut) at once, then writes.
    page.wait_for_selector('#item[data-kind="judgment"]', timeout=SWAP_TIMEOUT_MS)
    page.keyboard.press("c")
    page.keyboard.type("The answer is wrong")
    expect(page.locator("#id_critique")).to_have_value("The answer is wrong")
    # Leave the box (Esc), come back with c: still no "c" typed; shortcuts typed in the box stay text.
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    expect(page.locator("#id_critique")).to_be_focused()
    page.keyboard.type(" about 1969; s t 2")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item[data-done="true"]', timeout=SWAP_TIMEOUT_MS)
    assert Annotation.objects.get(item=judged).critique == "The answer is wrong about 1969; s t 2"


def left(page: Page) -> str:
    return page.locator('#progress [data-count="left"]').inner_text()


def test_left_reads_the_same_on_the_home_page_and_the_annotate_header(page: Page, live_server, annotator_user):
    project, user = annotator_user
    for _ in range(3):
        make_item(project, kind="thumb")
    log_in(page, live_server, user)
    expect(page.locator("dt", has_text="Open items left for me").locator("xpath=following-sibling::dd")).to_have_text(
        "3"
    )
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "thumb")
    # The item on screen is still to do: 3 left, as the home page said.
    assert left(page) == "3"
    for expected in ("2", "1"):
        assignment = page.locator("#item").get_attribute("data-assignment")
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#item")).not_to_have_attribute("data-assignment", assignment, timeout=SWAP_TIMEOUT_MS)
        wait_for_kind(page, "thumb")
        expect(page.locator('#progress [data-count="left"]')).to_have_text(expected)  # never 0 with an item on screen
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item[data-done="true"]', timeout=SWAP_TIMEOUT_MS)
    expect(page.locator('#progress [data-count="left"]')).to_have_text("0")
    page.goto(f"{live_server.url}/")
    expect(page.locator("dt", has_text="Open items left for me").locator("xpath=following-sibling::dd")).to_have_text(
        "0"
    )


def card_order(page: Page) -> list[str]:
    return page.locator("#item .rank-card").evaluate_all("els => els.map(e => e.dataset.index)")


def test_ranking_cards_reorder_as_ranks_are_typed(page: Page, live_server, annotator_user):
    project, user = annotator_user
    item = make_item(project, kind="ranking", texts=["First.", "Second.", "Third."])
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "ranking")
    assert card_order(page) == ["1", "2", "3"]
    # By keys: response 3 gets rank 1 and moves to the top.
    page.keyboard.press("3")
    page.keyboard.press("1")
    expect(page.locator("#item .rank-card").first).to_have_attribute("data-index", "3")
    assert card_order(page) == ["3", "1", "2"]
    # Typed into a rank box: response 2 gets rank 2 and moves above the unranked 1; the box keeps the focus.
    box = page.locator('#item .rank-card[data-index="2"] input[type="number"]')
    box.click()
    page.keyboard.type("2")
    expect(page.locator("#item .rank-card").nth(1)).to_have_attribute("data-index", "2")
    expect(box).to_be_focused()
    assert card_order(page) == ["3", "2", "1"]
    page.locator('#item .rank-card[data-index="1"] input[type="number"]').fill("3")
    assert card_order(page) == ["3", "2", "1"]
    on_screen = page.locator("#item .rank-card").evaluate_all("els => els.map(e => e.dataset.response)")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item[data-done="true"]', timeout=SWAP_TIMEOUT_MS)
    # The order on screen is the ranking stored.
    assert Annotation.objects.get(item=item).ranking == [[r] for r in on_screen]
