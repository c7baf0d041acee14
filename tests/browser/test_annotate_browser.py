"""An annotator in a real browser: log in through the form, then finish one
item of each kind with the keyboard alone; untrusted markup never runs; a
submit swaps the next item in without reloading the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Annotation, Assignment
from annotate.services.assignment import annotator_for_user, assignment_next
from tests.factories import PASSWORD, make_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SWAP_TIMEOUT_MS = 15_000
XSS = '<script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1"> [x](javascript:window.__pwned=1)'

# Every ``securitypolicyviolation`` of the page (its swaps included), in ``window.__csp``.
CSP_VIOLATIONS = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation',"
    " e => window.__csp.push(e.effectiveDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));"
)


def log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("#id_username")).to_be_focused()  # autofocus
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("My projects")


def wait_for_kind(page: Page, kind: str) -> None:
    # Swapped in and settled (htmx drops these classes when done), so keys typed next reach the new item.
    page.wait_for_selector(f'#item[data-kind="{kind}"]:not(.htmx-added):not(.htmx-settling)', timeout=SWAP_TIMEOUT_MS)


def test_one_item_of_each_kind_with_the_keyboard_alone(page: Page, live_server, annotator_user):
    project, user = annotator_user
    pairwise = make_item(project, kind="pairwise", texts=["Paris is the capital.", "Lyon is the capital."])
    thumb = make_item(project, kind="thumb", texts=["Water boils at 100 °C at sea level."])
    ranking = make_item(project, kind="ranking", texts=["Best answer.", "Worst answer.", "Middling answer."])
    judgment = make_item(project, kind="judgment", texts=["The moon landing was in 1970."])
    # Lease the pairwise item first and show it swapped (canonical B on the
    # left), so pressing 1 must store B.
    lease = assignment_next(project=project, annotator=annotator_for_user(user))
    assert lease.item == pairwise
    a, b = (str(r.uuid) for r in pairwise.ordered_responses())
    Assignment.objects.filter(pk=lease.pk).update(display_order=[b, a])

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(CSP_VIOLATIONS)

    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "pairwise")
    page.evaluate("window.__marker = 1")
    expect(page.locator("#item [data-response]").first).to_have_attribute("data-response", b)
    expect(page.locator(".shortcuts")).to_contain_text("both bad")

    # Pairwise: 1 = the left response, Shift+3 = much better, Ctrl+Enter submits.
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit3")
    page.keyboard.press("Control+Enter")
    wait_for_kind(page, "thumb")
    annotation = Annotation.objects.get(item=pairwise)
    assert (annotation.choice, annotation.strength) == ("B", 3)
    assert annotation.display_order == [b, a]
    assert annotation.time_spent_ms is not None and annotation.time_spent_ms > 0
    expect(page.locator('#progress [data-count="done"]')).to_have_text("1")

    # Thumb: arrow down.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Control+Enter")
    wait_for_kind(page, "ranking")
    assert Annotation.objects.get(item=thumb).choice == "down"

    # Ranking: "n then r" gives response n rank r; equal ranks tie.
    screen = page.locator("#item [data-response]").evaluate_all("els => els.map(e => e.dataset.response)")
    for keys in ("12", "21", "32"):
        page.keyboard.press(keys[0])
        page.keyboard.press(keys[1])
    page.keyboard.press("Control+Enter")
    wait_for_kind(page, "judgment")
    assert Annotation.objects.get(item=ranking).ranking == [[screen[1]], [screen[0], screen[2]]]

    # Judgment: c takes the keyboard into the critique box (nothing typed by it); type, then Ctrl+Enter.
    page.keyboard.press("c")
    expect(page.locator("#id_critique")).to_be_focused()
    page.keyboard.type("Wrong year: it was 1969.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item[data-done="true"]', timeout=SWAP_TIMEOUT_MS)
    annotation = Annotation.objects.get(item=judgment)
    assert annotation.critique == "Wrong year: it was 1969."

    # Every step was an htmx swap: the page (and its window) never reloaded.
    assert page.evaluate("window.__marker") == 1
    assert Annotation.objects.filter(annotator__user=user).count() == 4
    assert errors == []  # no script error
    assert page.evaluate("window.__csp") == []  # no swap broke the Content-Security-Policy (no inline style or script)


def test_script_in_a_response_does_not_run(page: Page, live_server, annotator_user):
    project, user = annotator_user
    make_item(project, kind="pairwise", texts=[XSS, "A harmless answer."])
    make_item(project, kind="thumb", texts=[XSS])
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "pairwise")
    item = page.locator("#item")
    # The markup shows up as the text the model wrote...
    expect(item).to_contain_text("<script>window.__pwned=1</script>")
    expect(item).to_contain_text('<img src=x onerror="window.__pwned=1">')
    # ...and nothing of it became an element.
    assert item.locator("script").count() == 0
    assert item.locator("img").count() == 0
    assert item.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("window.__pwned") is None
    # The same after an htmx swap brings in the next untrusted response.
    page.keyboard.press("t")
    page.keyboard.press("Control+Enter")
    wait_for_kind(page, "thumb")
    expect(page.locator("#item")).to_contain_text("<script>window.__pwned=1</script>")
    assert page.evaluate("window.__pwned") is None


def test_double_submit_in_the_browser_stores_one(page: Page, live_server, annotator_user):
    project, user = annotator_user
    first = make_item(project, kind="thumb")
    make_item(project, kind="thumb")
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "thumb")
    assignment = page.locator("#item").get_attribute("data-assignment")
    page.keyboard.press("ArrowUp")
    # Two submits in the same tick, as a double click or a bouncing key would.
    page.evaluate(
        "() => { const f = document.querySelector('#item form.submit-form'); f.requestSubmit(); f.requestSubmit(); }"
    )
    expect(page.locator("#item")).not_to_have_attribute("data-assignment", assignment, timeout=SWAP_TIMEOUT_MS)
    assert Annotation.objects.filter(item=first).count() == 1
    assert Annotation.objects.count() == 1


def test_skip_with_the_keyboard(page: Page, live_server, annotator_user):
    project, user = annotator_user
    skipped = make_item(project, kind="thumb")
    make_item(project, kind="thumb")
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "thumb")
    page.keyboard.press("s")
    expect(page.locator("#item .flash")).to_contain_text("Skipped", timeout=SWAP_TIMEOUT_MS)
    assert Assignment.objects.get(item=skipped).status == Assignment.Status.SKIPPED
    assert not Annotation.objects.exists()


def test_pages_work_without_javascript(browser, live_server, annotator_user):
    project, user = annotator_user
    item = make_item(project, kind="thumb")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_have_text("My projects")
        page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
        page.get_by_label(re.compile("Thumbs up")).check()
        page.get_by_role("button", name=re.compile("Submit")).click()
        page.wait_for_selector('#item[data-done="true"]')
        assert page.url.endswith(f"/p/{project.slug}/annotate/")
        assert Annotation.objects.get(item=item).choice == "up"
        expect(page.locator(".messages")).to_contain_text("Saved.")
    finally:
        context.close()


def test_validation_error_is_swapped_in_next_to_the_field(page: Page, live_server, annotator_user):
    project, user = annotator_user
    item = make_item(project, kind="ranking", texts=["First.", "Second.", "Third."])
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    wait_for_kind(page, "ranking")
    page.evaluate("window.__marker = 1")
    assignment = page.locator("#item").get_attribute("data-assignment")
    # Rank only the first response, then submit: the server answers 422.
    page.keyboard.press("1")
    page.keyboard.press("1")
    page.keyboard.press("Control+Enter")
    error = page.locator('#item [data-error-for="ranking"]')
    expect(error).to_contain_text("missing: response 2, 3", timeout=SWAP_TIMEOUT_MS)
    expect(page.locator("#item")).to_have_attribute("data-assignment", assignment)
    assert not Annotation.objects.filter(item=item).exists()
    # Let htmx finish settling the swapped-in item before typing on (a
    # submit sent mid-settle can be dropped: a known race, see the issue note).
    expect(page.locator("#item")).not_to_have_class(re.compile(r"htmx-(swapping|settling)"), timeout=SWAP_TIMEOUT_MS)
    # Finish the ranking and submit again: stored, and still no page load.
    for keys in ("22", "33"):
        page.keyboard.press(keys[0])
        page.keyboard.press(keys[1])
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item[data-done="true"]', timeout=SWAP_TIMEOUT_MS)
    assert len(Annotation.objects.get(item=item).ranking) == 3
    assert page.evaluate("window.__marker") == 1
