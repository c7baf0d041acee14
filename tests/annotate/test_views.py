"""Annotator pages through the Django test client: access per role, the
next-item loop, screen-to-canonical mapping, htmx partials, idempotency."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate.models import Annotation, Annotator, Assignment, Item, PrincipleVerdict
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import annotator_for_user, assignments_reclaim_expired
from tests.factories import MembershipFactory, PrincipleFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def next_url(project, kind=None):
    url = reverse("annotate-next", args=[project.slug])
    return f"{url}?kind={kind}" if kind else url


def submit_url(project, assignment):
    return reverse("annotate-submit", args=[project.slug, assignment.uuid])


def skip_url(project, assignment):
    return reverse("annotate-skip", args=[project.slug, assignment.uuid])


def lease_from(response) -> Assignment:
    """The assignment the rendered #item shows (from data-assignment)."""
    html = response.content.decode()
    match = re.search(r'id="item"[^>]*data-assignment="([0-9a-f-]+)"', html)
    assert match, f"no #item with data-assignment in:\n{html[:2000]}"
    return Assignment.objects.select_related("item").get(uuid=match.group(1))


def key_from(response) -> str:
    match = re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', response.content.decode())
    assert match
    return match.group(1)


def force_order(assignment: Assignment, swapped: bool) -> list[str]:
    canonical = [str(r.uuid) for r in assignment.item.ordered_responses()]
    order = canonical[::-1] if swapped else canonical
    Assignment.objects.filter(pk=assignment.pk).update(display_order=order)
    assignment.refresh_from_db()
    return canonical


# Pages per role ----------------------------------------------------------


def test_home_lists_my_projects_with_role_progress_and_links(client_for, project, personas):
    make_item(project)
    response = client_for(personas["annotator"]).get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert project.name in html
    assert "Annotator" in html
    assert reverse("annotate-next", args=[project.slug]) in html
    assert "Open items left for me" in html
    assert f"/p/{project.slug}/curate/" not in html  # annotators do not curate

    html = client_for(personas["curator"]).get("/").content.decode()
    assert f"/p/{project.slug}/curate/" in html


def test_home_progress_counts_my_work_only(client_for, project, personas):
    for _ in range(3):
        make_item(project, kind="thumb")
    me = annotator_for_user(personas["annotator"])
    other = annotator_for_user(personas["curator"])
    for who, ms in ((me, 65_000), (other, 1_000)):
        from annotate.services.assignment import assignment_next

        lease = assignment_next(project=project, annotator=who)
        annotation_record(
            assignment=lease,
            annotator=who,
            data=AnnotationInput(choice="up", time_spent_ms=ms),
            idempotency_key=uuid.uuid4(),
        )
    html = client_for(personas["annotator"]).get("/").content.decode()
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
    assert stats["My annotations"] == "1"
    assert stats["Open items left for me"] == "2"  # overlap 2: the one I did is not mine to do again
    assert stats["Time spent"] == "1 min 5 s"


def test_home_shows_researcher_without_annotate_link(client_for, project, personas):
    html = client_for(personas["researcher"]).get("/").content.decode()
    assert project.name in html
    assert "Researcher" in html
    assert reverse("annotate-next", args=[project.slug]) not in html


@pytest.mark.parametrize("role", ["owner", "curator", "annotator"])
def test_project_page_renders_guidelines_for_annotating_roles(client_for, project, personas, role):
    PrincipleFactory(project=project, name="Honest", description="Says *only* what is true.")
    response = client_for(personas[role]).get(reverse("annotate-project", args=[project.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>helpful</strong>" in html  # guidelines markdown
    assert "Honest" in html and "<em>only</em>" in html
    assert "Start" in html


def test_researchers_read_their_projects_guidelines_but_get_no_annotate_controls(client_for, project, personas):
    PrincipleFactory(project=project, name="Honest", description="Says *only* what is true.")
    response = client_for(personas["researcher"]).get(reverse("annotate-project", args=[project.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>helpful</strong>" in html and "<em>only</em>" in html
    assert reverse("annotate-next", args=[project.slug]) not in html  # no Start, no per-kind links
    assert reverse("account-tokens") in html and 'id="data-access"' in html
    assert not Annotator.objects.filter(user=personas["researcher"]).exists()  # opening the page made no annotator
    home = client_for(personas["researcher"]).get("/").content.decode()
    assert reverse("annotate-project", args=[project.slug]) in home


@pytest.mark.parametrize("who", ["outsider", "researcher-of-another-project"])
def test_project_page_is_404_for_non_members(client_for, project, personas, who):
    if who == "outsider":
        user = personas["outsider"]
    else:
        user = UserFactory(username="elsewhere")
        MembershipFactory(user=user, role="researcher")  # a researcher, of some other project
    response = client_for(user).get(reverse("annotate-project", args=[project.slug]))
    assert response.status_code == 404
    assert project.name not in response.content.decode()


def test_annotate_page_renders_contract_for_pairwise(client_for, project, personas):
    item = make_item(project, kind="pairwise")
    response = client_for(personas["annotator"]).get(next_url(project))
    html = response.content.decode()
    assert response.status_code == 200
    lease = lease_from(response)
    assert lease.item == item
    assert 'data-kind="pairwise"' in html
    for r in item.ordered_responses():
        assert f'data-response="{r.uuid}"' in html
    uuid.UUID(key_from(response))  # a real uuid
    assert "csrfmiddlewaretoken" in html
    assert 'id="progress"' in html
    assert "Content-Security-Policy" in response.headers
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    # Screen order follows the lease's display order.
    positions = [html.index(f'data-response="{u}"') for u in lease.display_order]
    assert positions == sorted(positions)


def test_reload_returns_the_same_lease_with_a_fresh_key(client_for, project, personas):
    make_item(project)
    make_item(project)
    client = client_for(personas["annotator"])
    first = client.get(next_url(project))
    second = client.get(next_url(project))
    assert lease_from(first) == lease_from(second)
    assert key_from(first) != key_from(second)


@pytest.mark.parametrize("kind", ["pairwise", "thumb", "ranking", "judgment"])
def test_each_kind_renders(client_for, project, personas, kind):
    PrincipleFactory(project=project, name="Harmless")
    item = make_item(project, kind=kind)
    response = client_for(personas["annotator"]).get(next_url(project))
    html = response.content.decode()
    assert f'data-kind="{kind}"' in html
    assert html.count("data-response=") == item.links.count()
    verdict_values = re.findall(r'name="verdict_\d+" value="([^"]+)"', html)
    if kind == "pairwise":
        assert verdict_values == ["left", "right", "neither", "na"]
    else:
        assert verdict_values == ["A", "neither", "na"]
    if kind == "judgment":
        assert 'name="critique"' in html and 'name="corrected_response"' in html
    if kind == "ranking":
        assert 'name="ranking"' in html


def test_multi_turn_prompt_renders_as_conversation(client_for, project, personas):
    item = make_item(project, kind="thumb")
    item.prompt.messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Tell me a **joke**"},
    ]
    item.prompt.save()
    html = client_for(personas["annotator"]).get(next_url(project)).content.decode()
    roles = re.findall(r'<span class="role role-(\w+)">', html)
    assert roles == ["system", "user", "assistant", "user"]
    assert "<strong>joke</strong>" in html


def test_untrusted_response_is_escaped_on_the_page(client_for, project, personas):
    make_item(
        project,
        kind="thumb",
        texts=['<script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1">'],
    )
    html = client_for(personas["annotator"]).get(next_url(project)).content.decode()
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


def test_kind_filter(client_for, project, personas):
    make_item(project, kind="pairwise")
    judged = make_item(project, kind="judgment")
    response = client_for(personas["annotator"]).get(next_url(project, "judgment"))
    assert lease_from(response).item == judged
    assert 'name="next_kind" value="judgment"' in response.content.decode()


def test_all_done_when_nothing_left(client_for, project, personas):
    response = client_for(personas["annotator"]).get(next_url(project))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-done="true"' in html
    assert "data-assignment" not in html
    assert "All done" in html


# Access ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["outsider", "researcher"])
def test_outsiders_and_researchers_get_404(client_for, project, personas, who):
    make_item(project)
    lease_owner = annotator_for_user(personas["annotator"])
    from annotate.services.assignment import assignment_next

    lease = assignment_next(project=project, annotator=lease_owner)
    client = client_for(personas[who])
    page = client.get(reverse("annotate-project", args=[project.slug])).status_code
    assert page == (404 if who == "outsider" else 200)  # researchers read the guidelines, never annotate
    assert client.get(next_url(project)).status_code == 404
    assert client.post(submit_url(project, lease), {"choice": "left"}).status_code == 404
    assert client.post(skip_url(project, lease)).status_code == 404


def test_anonymous_is_sent_to_login(client, project):
    make_item(project)
    for url in ["/", reverse("annotate-project", args=[project.slug]), next_url(project)]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    fake = f"/p/{project.slug}/annotate/{uuid.uuid4()}/submit/"
    response = client.post(fake, {"choice": "left"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_someone_elses_assignment_is_404(client_for, project, personas):
    make_item(project)
    from annotate.services.assignment import assignment_next

    theirs = assignment_next(project=project, annotator=annotator_for_user(personas["curator"]))
    client = client_for(personas["annotator"])
    response = client.post(
        submit_url(project, theirs), {"idempotency_key": str(uuid.uuid4()), "choice": "left"}, **HTMX
    )
    assert response.status_code == 404
    assert client.post(skip_url(project, theirs)).status_code == 404
    assert not Annotation.objects.exists()
    theirs.refresh_from_db()
    assert theirs.status == Assignment.Status.LEASED


def test_assignment_of_another_project_is_404(client_for, project, personas):
    from annotate.services.assignment import assignment_next
    from tests.factories import MembershipFactory, ProjectFactory

    other = ProjectFactory()
    MembershipFactory(project=other, user=personas["annotator"])
    make_item(other)
    lease = assignment_next(project=other, annotator=annotator_for_user(personas["annotator"]))
    # My own lease, but posted under a project it does not belong to.
    response = client_for(personas["annotator"]).post(
        submit_url(project, lease), {"idempotency_key": str(uuid.uuid4()), "choice": "left"}
    )
    assert response.status_code == 404


def test_own_lease_is_404_once_the_role_no_longer_annotates(client_for, project, personas):
    from annotate.models import Membership
    from annotate.services.assignment import assignment_next

    make_item(project)
    user = personas["annotator"]
    lease = assignment_next(project=project, annotator=annotator_for_user(user))
    Membership.objects.filter(project=project, user=user).update(role="researcher")
    client = client_for(user)
    response = client.post(submit_url(project, lease), {"idempotency_key": str(uuid.uuid4()), "choice": "left"})
    assert response.status_code == 404
    assert client.post(skip_url(project, lease)).status_code == 404
    assert not Annotation.objects.exists()


def test_get_on_submit_is_not_allowed(client_for, project, personas):
    make_item(project)
    client = client_for(personas["annotator"])
    lease = lease_from(client.get(next_url(project)))
    assert client.get(submit_url(project, lease)).status_code == 405


# Submitting --------------------------------------------------------------


@pytest.mark.parametrize(
    ("swapped", "screen", "expected"),
    [
        (False, "left", "A"),
        (False, "right", "B"),
        (True, "left", "B"),
        (True, "right", "A"),
        (True, "tie", "tie"),
        (False, "both_bad", "both_bad"),
    ],
)
def test_pairwise_screen_choice_is_stored_canonically(client_for, project, personas, swapped, screen, expected):
    principle = PrincipleFactory(project=project, name="Honest")
    make_item(project, kind="pairwise")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    force_order(lease, swapped)
    strength = "3" if screen in ("left", "right") else ""
    response = client.post(
        submit_url(project, lease),
        {
            "idempotency_key": key_from(page),
            "choice": screen,
            "strength": strength,
            f"verdict_{principle.pk}": "left",
            "rationale": "  because  ",
            "time_spent_ms": "4200",
        },
    )
    assert response.status_code == 303
    assert response["Location"] == next_url(project)
    annotation = Annotation.objects.get()
    assert annotation.choice == expected
    assert annotation.strength == (3 if strength else None)
    assert annotation.rationale == "because"
    assert annotation.time_spent_ms == 4200
    assert annotation.display_order == lease.display_order
    # The verdict "favours the left one" is canonical too.
    verdict = PrincipleVerdict.objects.get(annotation=annotation, principle=principle)
    assert verdict.verdict == ("B" if swapped else "A")


def test_htmx_submit_swaps_in_the_next_item_and_progress(client_for, project, personas):
    make_item(project, kind="thumb")
    make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    first = lease_from(page)
    response = client.post(submit_url(project, first), {"idempotency_key": key_from(page), "choice": "up"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # a partial, not a page
    second = lease_from(response)
    assert second != first and second.item != first.item
    assert "Saved." in html
    assert re.search(r'id="progress"[^>]*hx-swap-oob="true"', html)
    assert re.search(r'<strong data-count="done">1</strong>', html)
    assert key_from(response) != key_from(page)
    assert Annotation.objects.get().choice == "up"


def test_double_submit_with_the_same_key_stores_one(client_for, project, personas):
    make_item(project, kind="thumb")
    make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    data = {"idempotency_key": key_from(page), "choice": "down"}
    first = client.post(submit_url(project, lease), data, **HTMX)
    second = client.post(submit_url(project, lease), data, **HTMX)
    assert first.status_code == 200 and second.status_code == 200
    assert Annotation.objects.count() == 1
    assert "Already saved." in second.content.decode()
    # The second answer is the same next item, not a third lease.
    assert lease_from(first) == lease_from(second)


def test_second_submit_with_another_key_stores_one(client_for, project, personas):
    make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    lease = lease_from(client.get(next_url(project)))
    for choice in ("up", "down"):
        client.post(submit_url(project, lease), {"idempotency_key": str(uuid.uuid4()), "choice": choice})
    assert list(Annotation.objects.values_list("choice", flat=True)) == ["up"]


def test_ranking_json_with_ties(client_for, project, personas):
    item = make_item(project, kind="ranking", n_responses=4)
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    r = [str(x.uuid) for x in item.ordered_responses()]
    ranking = [[r[2]], [r[0], r[3]], [r[1]]]
    response = client.post(
        submit_url(project, lease), {"idempotency_key": key_from(page), "ranking": json.dumps(ranking)}, **HTMX
    )
    assert response.status_code == 200
    assert Annotation.objects.get().ranking == ranking


def test_ranking_from_rank_numbers_without_javascript(client_for, project, personas):
    item = make_item(project, kind="ranking", n_responses=3)
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    r = [str(x.uuid) for x in item.ordered_responses()]
    data = {"idempotency_key": key_from(page), "ranking": "", f"rank_{r[0]}": "2", f"rank_{r[1]}": "1"}
    data[f"rank_{r[2]}"] = "2"
    response = client.post(submit_url(project, lease), data)
    assert response.status_code == 303
    assert Annotation.objects.get().ranking == [[r[1]], sorted([r[0], r[2]], key=lease.display_order.index)]


def test_judgment_stores_critique_and_correction(client_for, project, personas):
    PrincipleFactory(project=project, name="Honest")
    principle = project.principles.get()
    make_item(project, kind="judgment")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    client.post(
        submit_url(project, lease),
        {
            "idempotency_key": key_from(page),
            "critique": "Wrong date.",
            "corrected_response": "It was 1969.",
            f"verdict_{principle.pk}": "neither",
        },
    )
    annotation = Annotation.objects.get()
    assert (annotation.kind, annotation.critique, annotation.corrected_response) == (
        "judgment",
        "Wrong date.",
        "It was 1969.",
    )
    assert annotation.choice == ""
    assert annotation.verdicts.get().verdict == "neither"


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("pairwise", {}, "choice"),
        ("pairwise", {"choice": "sideways"}, "choice"),
        ("pairwise", {"choice": "tie", "strength": "2"}, "strength"),
        ("thumb", {"choice": "left"}, "choice"),
        ("judgment", {"critique": "   "}, "critique"),
        ("ranking", {"ranking": "[not json"}, "ranking"),
        ("ranking", {"ranking": "[]"}, "ranking"),
        ("thumb", {"choice": "up", "time_spent_ms": "-5"}, "time_spent_ms"),
    ],
)
def test_validation_error_names_the_field(client_for, project, personas, kind, data, field):
    make_item(project, kind=kind)
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    response = client.post(submit_url(project, lease), {"idempotency_key": key_from(page), **data}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert f'data-error-for="{field}"' in html
    assert lease_from(response) == lease  # the same item, with the errors shown
    assert key_from(response) == key_from(page)  # a fixed resubmit stays idempotent
    assert not Annotation.objects.exists()


def controls_of(response) -> str:
    """The answer controls of a rendered pairwise item: from its choice to the submit button."""
    html = response.content.decode()
    return html[html.index('<fieldset class="choice') : html.index('<div class="form-actions">')]


def test_answer_controls_are_shared_across_annotators_and_follow_principle_edits(client_for, project, personas):
    from annotate import views

    views._controls_html.cache_clear()
    principle = PrincipleFactory(project=project, name="Honest", description="Says what it knows")
    for _ in range(3):
        make_item(project, kind="pairwise")
    other = UserFactory()
    MembershipFactory(project=project, user=other, role="annotator")
    first = client_for(personas["annotator"]).get(next_url(project))
    second = client_for(other).get(next_url(project))
    assert lease_from(first).annotator != lease_from(second).annotator
    shown = controls_of(first)
    assert f'name="verdict_{principle.pk}"' in shown and 'title="Says what it knows"' in shown
    assert controls_of(second) == shown
    info = views._controls_html.cache_info()
    assert (info.hits, info.misses) == (1, 1)  # rendered once, served twice

    principle.description = "Says only what it knows"
    principle.save()
    third_user = UserFactory()
    MembershipFactory(project=project, user=third_user, role="annotator")
    third = client_for(third_user).get(next_url(project))
    assert 'title="Says only what it knows"' in controls_of(third)


def test_answer_controls_with_errors_keep_what_was_posted(client_for, project, personas):
    principle = PrincipleFactory(project=project)
    make_item(project, kind="pairwise")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    response = client.post(
        submit_url(project, lease_from(page)),
        {"idempotency_key": key_from(page), "strength": "2", f"verdict_{principle.pk}": "right", "rationale": "kept"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 422 and 'data-error-for="choice"' in html
    assert re.search(r'name="strength" value="2" checked', html)
    assert re.search(rf'name="verdict_{principle.pk}" value="right" checked', html)
    assert ">kept</textarea>" in html
    # The next fresh item shows the controls unfilled again.
    assert "checked" not in controls_of(client.get(next_url(project))).replace('value="" checked', "")


def test_validation_error_without_htmx_renders_the_page(client_for, project, personas):
    make_item(project, kind="pairwise")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    response = client.post(
        submit_url(project, lease_from(page)), {"idempotency_key": key_from(page), "rationale": "kept"}
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "<html" in html and 'data-error-for="choice"' in html
    assert ">kept</textarea>" in html  # what was typed is kept


def test_ranking_error_names_missing_responses(client_for, project, personas):
    item = make_item(project, kind="ranking", n_responses=3)
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    first = lease.display_order[0]
    response = client.post(submit_url(project, lease), {"idempotency_key": key_from(page), f"rank_{first}": "1"})
    assert response.status_code == 422
    assert "missing: response 2, 3" in response.content.decode()
    assert item.annotations.count() == 0


def test_submit_after_lease_lost_says_so_and_moves_on(client_for, project, personas):
    project.overlap = 1
    project.save()
    make_item(project, kind="thumb")
    spare = make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    # My lease runs out; someone else takes the item and finishes it.
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assignments_reclaim_expired(project=project)
    other = annotator_for_user(UserFactory())
    from annotate.services.assignment import assignment_next

    theirs = assignment_next(project=project, annotator=other)
    assert theirs.item == lease.item
    annotation_record(
        assignment=theirs, annotator=other, data=AnnotationInput(choice="up"), idempotency_key=uuid.uuid4()
    )
    response = client.post(submit_url(project, lease), {"idempotency_key": key_from(page), "choice": "down"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "not stored" in html
    assert lease_from(response).item == spare
    assert Annotation.objects.filter(annotator__user=personas["annotator"]).count() == 0


# Skipping ----------------------------------------------------------------


def test_skip_returns_item_to_pool_and_shows_next(client_for, project, personas):
    make_item(project, kind="thumb")
    make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    first = lease_from(client.get(next_url(project)))
    response = client.post(skip_url(project, first), **HTMX)
    assert response.status_code == 200
    second = lease_from(response)
    assert second.item != first.item
    first.refresh_from_db()
    assert first.status == Assignment.Status.SKIPPED
    assert Item.objects.get(pk=first.item_id).slots_taken == 0
    assert "Skipped" in response.content.decode()
    # Without htmx: a 303 back to the next-item page.
    response = client.post(skip_url(project, second))
    assert response.status_code == 303
    # Nothing left for me now (both skipped), though the items stay open for others.
    html = client.get(next_url(project)).content.decode()
    assert 'data-done="true"' in html
    other = client_for(personas["curator"])
    assert lease_from(other.get(next_url(project))).item_id in {first.item_id, second.item_id}


def test_skip_after_submit_does_not_undo(client_for, project, personas):
    make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    client.post(submit_url(project, lease), {"idempotency_key": key_from(page), "choice": "up"})
    response = client.post(skip_url(project, lease), **HTMX)
    assert "already finished" in response.content.decode()
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.SUBMITTED
    assert Annotation.objects.count() == 1


# Login -------------------------------------------------------------------


def test_login_page_and_logout(client, project, personas):
    from tests.factories import PASSWORD

    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()
    response = client.post(reverse("login"), {"username": personas["annotator"].username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get("/").status_code == 200
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_login_lockout_after_repeated_failures(client, settings, project, personas):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": personas["annotator"].username, "password": "wrong"})
    from tests.factories import PASSWORD

    response = client.post(reverse("login"), {"username": personas["annotator"].username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()


def test_progress_counts_left_up_to_a_cap(project, personas):
    from annotate.selectors import annotator_progress

    for kind in ("thumb", "thumb", "judgment"):
        make_item(project, kind=kind)
    me = annotator_for_user(personas["annotator"])
    capped = annotator_progress(project=project, annotator=me, cap=2)
    assert (capped.left, capped.left_more) == (2, True)
    exact = annotator_progress(project=project, annotator=me, by_kind=True)
    assert (exact.left, exact.left_more, exact.left_by_kind) == (3, False, {"thumb": 2, "judgment": 1})
    assert annotator_progress(project=project, annotator=me, cap=3).left_more is False


def test_progress_counter_shows_plus_beyond_the_cap(client_for, project, personas, monkeypatch):
    monkeypatch.setattr("annotate.views.PROGRESS_CAP_LOOP", 1)
    for _ in range(3):
        make_item(project, kind="thumb")
    html = client_for(personas["annotator"]).get(next_url(project)).content.decode()
    assert '<strong data-count="left">1+</strong>' in html


def test_submit_and_next_item_stay_within_a_query_budget(client_for, project, personas):
    """The htmx loop's cost per item (issue 2's load target): one submit that also leases and renders the next."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    PrincipleFactory(project=project)
    for _ in range(4):
        make_item(project, kind="pairwise")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    for _ in range(2):  # warm: the progress counters are cached after the first render
        url, data = submit_url(project, lease_from(page)), {"idempotency_key": key_from(page), "choice": "left"}
        with CaptureQueriesContext(connection) as queries:
            page = client.post(url, data, **HTMX)
        assert page.status_code == 200 and lease_from(page)
    # The session and the user come from the cache; the assignment with its item, project, annotator,
    # principles and canonical order (1), submit (lease -> submitted, insert, item: 1 statement), lease
    # held or a new one with its prompt and responses (1 statement), and "left" counted exactly near
    # the end (here fewer items than the cap: 1); savepoints aside.
    counted = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert not [sql for sql in counted if '"auth_user"' in sql], counted
    assert len(counted) <= 4, "\n".join(counted)


def test_loop_counters_are_cached_and_bumped_by_each_submission(client_for, project, personas):
    from django.core.cache import cache

    from annotate.selectors import progress_cache_keys

    for _ in range(3):
        make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    done_key, time_key, _left = progress_cache_keys(project.pk, annotator_for_user(personas["annotator"]).pk)
    assert (cache.get(done_key), cache.get(time_key)) == (0, 0)
    for n, spent in enumerate((1500, 2500), start=1):
        data = {"idempotency_key": key_from(page), "choice": "up", "time_spent_ms": str(spent)}
        page = client.post(submit_url(project, lease_from(page)), data, **HTMX)
        assert f'<strong data-count="done">{n}</strong>' in page.content.decode()
    assert (cache.get(done_key), cache.get(time_key)) == (2, 4000)
    # A plain form post (no htmx) counts too, before its redirect.
    data = {"idempotency_key": key_from(page), "choice": "up", "time_spent_ms": "500"}
    assert client.post(submit_url(project, lease_from(page)), data).status_code == 303
    assert (cache.get(done_key), cache.get(time_key)) == (3, 4500)
    # A repeat of a stored submission counts nothing.
    last = Annotation.objects.latest("id")
    client.post(
        submit_url(project, last.assignment), {"idempotency_key": str(last.idempotency_key), "choice": "up"}, **HTMX
    )
    assert cache.get(done_key) == 3
    # Without the cache the counters are counted again, the same.
    cache.delete_many([done_key, time_key])
    assert '<strong data-count="done">3</strong>' in client.get(next_url(project)).content.decode()


def test_an_htmx_submit_takes_three_cache_round_trips(client_for, project, personas, monkeypatch):
    """The session, the user, and the loop's counters bumped and read in one script."""
    from tests.test_cache import _counting_commands

    for _ in range(4):
        make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    page = client.post(
        submit_url(project, lease_from(page)), {"idempotency_key": key_from(page), "choice": "up"}, **HTMX
    )  # warm: the user cached, the counters counted
    sent = _counting_commands(monkeypatch)
    page = client.post(
        submit_url(project, lease_from(page)), {"idempotency_key": key_from(page), "choice": "up"}, **HTMX
    )
    assert '<strong data-count="done">2</strong>' in page.content.decode()
    assert len(sent) <= 3, sent
