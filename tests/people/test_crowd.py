"""Crowd enrolment (curation/people, accounts' /join/): an open link per
project, an account per external id (no password, resumed on re-opening,
never two), the completion code after N judgments or an empty queue, and
the participant reaches nothing but their project."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from accounts.models import CrowdLink, CrowdParticipant
from annotate.models import Membership, Role
from curation.people import services
from tests.factories import ProjectFactory, make_item

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def link(project, personas):
    return services.crowd_link_save(
        project=project,
        by=personas["owner"],
        enabled=True,
        participant_param="PROLIFIC_PID",
        items_required=2,
        completion_code="C0DE42",
        return_url="https://app.prolific.com/submissions/complete?cc=C0DE42",
    )


def join(client, link, pid):
    return client.get(reverse("crowd-join", args=[link.token]), {link.participant_param: pid})


def submit_current(client, project):
    """Answer the item on screen (thumb items: up) the way the page's form does."""
    page = client.get(reverse("annotate-next", args=[project.slug]))
    assert page.status_code == 200, page.status_code
    html = page.content.decode()
    action = re.search(r'action="(/p/[^"]+/submit/)"', html).group(1)
    return client.post(action, {"idempotency_key": str(uuid.uuid4()), "choice": "up", "time_spent_ms": "900"})


def test_owner_opens_a_link_and_only_owners_see_the_page(client, project, personas):
    client.force_login(personas["owner"])
    url = reverse("curation:crowd", args=[project.slug])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"enabled": "on", "participant_param": "PROLIFIC_PID", "items_required": "5", "completion_code": "X1"}
    )
    assert response.status_code == 302
    link = CrowdLink.objects.get(project=project)
    page = client.get(url).content.decode()
    assert f"/join/{link.token}/?PROLIFIC_PID=PARTICIPANT_ID" in page
    bad = client.post(url, {"participant_param": "no spaces!", "items_required": "0", "completion_code": ""})
    assert bad.status_code == 422
    for role in ("curator", "annotator", "researcher", "outsider"):
        other = Client()
        other.force_login(personas[role])
        assert other.get(url).status_code == 404
        assert (
            other.post(url, {"participant_param": "p", "items_required": "1", "completion_code": "Y"}).status_code
            == 404
        )
    assert CrowdLink.objects.get(project=project).completion_code == "X1"


def test_joining_creates_one_passwordless_annotator_per_id_and_resumes_it(project, link):
    first = Client()
    response = join(first, link, "PID-123")
    assert response.status_code == 302 and response["Location"] == reverse("annotate-next", args=[project.slug])
    participant = CrowdParticipant.objects.get()
    user = participant.user
    assert not user.has_usable_password()
    assert list(Membership.objects.filter(user=user).values_list("project", "role")) == [(project.pk, Role.ANNOTATOR)]
    again = Client()
    assert join(again, link, "PID-123").status_code == 302
    assert CrowdParticipant.objects.count() == 1 and User.objects.filter(username__startswith="crowd-").count() == 1
    assert again.session["_auth_user_id"] == str(user.pk)
    join(Client(), link, "PID-456")
    assert CrowdParticipant.objects.count() == 2


def test_a_missing_or_bad_id_and_a_closed_link_are_refused(project, personas, link):
    assert join(Client(), link, "").status_code == 400
    assert join(Client(), link, "a b<script>").status_code == 400
    services.crowd_link_save(
        project=project, by=personas["owner"], enabled=False, participant_param="PROLIFIC_PID",
        items_required=2, completion_code="C0DE42",
    )  # fmt: skip
    assert join(Client(), link, "PID-1").status_code == 404
    assert Client().get("/join/nope/", {"PROLIFIC_PID": "x"}).status_code == 404
    assert not CrowdParticipant.objects.exists()


def test_the_completion_code_after_n_judgments(project, link):
    for i in range(4):
        make_item(project, "thumb", texts=[f"Answer {i}"])
    client = Client()
    join(client, link, "PID-9")
    submit_current(client, project)
    assert client.get(reverse("annotate-next", args=[project.slug])).status_code == 200  # one more to go
    submit_current(client, project)
    done_url = reverse("crowd-done", args=[link.token])
    response = client.get(reverse("annotate-next", args=[project.slug]))
    assert response.status_code == 303 and response["Location"] == done_url
    htmx = client.get(reverse("annotate-next", args=[project.slug]), HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"] == done_url
    page = client.get(done_url).content.decode()
    assert "C0DE42" in page and "https://app.prolific.com/submissions/complete?cc=C0DE42" in page
    assert CrowdParticipant.objects.get().completed_at is not None
    # Re-opening the link later goes straight to the code.
    assert join(Client(), link, "PID-9")["Location"] == done_url


def test_the_completion_code_when_the_queue_is_empty(project, link):
    make_item(project, "thumb", texts=["The only one"])
    client = Client()
    join(client, link, "PID-7")
    submit_current(client, project)
    response = client.get(reverse("annotate-next", args=[project.slug]))
    assert response.status_code == 303 and response["Location"] == reverse("crowd-done", args=[link.token])


def test_a_participant_reaches_nothing_but_their_project(project, link):
    other = ProjectFactory()
    client = Client()
    join(client, link, "PID-5")
    assert client.get(reverse("annotate-project", args=[other.slug])).status_code == 404
    assert client.get(reverse("curation:overview", args=[project.slug])).status_code == 404
    assert client.get(reverse("crowd-done", args=[link.token])).status_code == 404  # not finished yet
    home = client.get(reverse("home")).content.decode()
    assert project.name in home and other.name not in home


# ---------------------------------------------------------------- qualification


@pytest.fixture
def gold(project, personas):
    from curation.items.services import item_resolve

    items = [make_item(project, "pairwise", texts=[f"Good {i}", f"Bad {i}"]) for i in range(2)]
    for item in items:
        item_resolve(item=item, verdict="A", user=personas["owner"])
    make_item(project, "thumb", texts=["Real work"])
    return items


def qualified_link(project, personas, accuracy=1.0):
    return services.crowd_link_save(
        project=project, by=personas["owner"], enabled=True, participant_param="pid", items_required=1,
        completion_code="DONE1", qualification_items=2, qualification_min_accuracy=accuracy,
    )  # fmt: skip


def answer(client, link, choice):
    page = client.get(reverse("crowd-qualify", args=[link.token]))
    item = re.search(r'name="item" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(reverse("crowd-qualify", args=[link.token]), {"item": item, "answer": choice})


def test_qualification_comes_first_and_lets_the_accurate_through(project, personas, gold):
    link = qualified_link(project, personas)
    client = Client()
    response = join(client, link, "Q-1")
    assert response["Location"] == reverse("crowd-qualify", args=[link.token])
    # the annotate page sends them back to the qualification until it is passed
    assert client.get(reverse("annotate-next", args=[project.slug]))["Location"] == response["Location"]
    assert "Practice item 1 of 2" in client.get(response["Location"]).content.decode()
    answer(client, link, "A")
    last = answer(client, link, "A")
    assert last["Location"] == reverse("annotate-next", args=[project.slug])
    participant = CrowdParticipant.objects.get()
    assert participant.qualified is True and len(participant.qualification) == 2
    from annotate.models import Annotation

    assert not Annotation.objects.exists()  # practice answers are never annotations
    assert client.get(reverse("annotate-next", args=[project.slug])).status_code == 200


def test_below_the_accuracy_a_participant_is_stopped_politely(project, personas, gold):
    link = qualified_link(project, personas, accuracy=0.75)
    client = Client()
    join(client, link, "Q-2")
    answer(client, link, "A")
    answer(client, link, "B")  # one of two right: 0.5 < 0.75
    participant = CrowdParticipant.objects.get()
    assert participant.qualified is False
    page = client.get(reverse("crowd-qualify", args=[link.token])).content.decode()
    assert 'id="crowd-stopped"' in page and "DONE1" not in page
    assert client.get(reverse("annotate-next", args=[project.slug]))["Location"] == reverse(
        "crowd-qualify", args=[link.token]
    )
    assert join(Client(), link, "Q-2")["Location"] == reverse("crowd-qualify", args=[link.token])
    bad = client.post(reverse("crowd-qualify", args=[link.token]), {"item": str(gold[0].uuid), "answer": "A"})
    assert bad.status_code == 200 and CrowdParticipant.objects.get().qualification == participant.qualification


def test_a_qualification_needs_enough_gold_items_and_valid_answers(project, personas, gold):
    with pytest.raises(Exception, match="gold items"):
        services.crowd_link_save(
            project=project, by=personas["owner"], enabled=True, participant_param="pid", items_required=1,
            completion_code="X", qualification_items=3,
        )  # fmt: skip
    link = qualified_link(project, personas)
    client = Client()
    join(client, link, "Q-3")
    page = client.get(reverse("crowd-qualify", args=[link.token]))
    item = re.search(r'name="item" value="([^"]+)"', page.content.decode()).group(1)
    wrong = client.post(reverse("crowd-qualify", args=[link.token]), {"item": item, "answer": "up"})
    assert wrong.status_code == 400 and CrowdParticipant.objects.get().qualification == {}
    other = Client()
    other.force_login(personas["annotator"])
    assert other.get(reverse("crowd-qualify", args=[link.token])).status_code == 404


def test_a_signed_in_user_is_asked_before_becoming_a_participant(project, personas, link):
    client = Client()
    client.force_login(personas["curator"])
    url = reverse("crowd-join", args=[link.token]) + "?PROLIFIC_PID=P-77"
    page = client.get(url)
    assert page.status_code == 200 and 'id="crowd-confirm"' in page.content.decode()
    assert not CrowdParticipant.objects.exists()
    assert client.session["_auth_user_id"] == str(personas["curator"].pk)  # still themselves
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(personas["curator"])
    assert checked.post(url).status_code == 403  # a forged POST from another site
    response = client.post(url)
    assert response.status_code == 302 and CrowdParticipant.objects.get().user != personas["curator"]
    assert client.session["_auth_user_id"] == str(CrowdParticipant.objects.get().user_id)
    # the participant themselves re-opening their own link goes straight on
    assert client.get(url).status_code == 302
