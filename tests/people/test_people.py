"""People (curation/people, accounts' /invite/): invitation links per role,
signing up or in through one, deactivating and reactivating a member, a
one-time password reset link; denial per role."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Invitation
from accounts.services import token_create
from annotate.models import Annotation, Annotator, Membership, Role
from curation.people import services
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db
User = get_user_model()
GOOD_PASSWORD = "a tidy Horse 42 staple"


def make_link(client, project, **data) -> str:
    response = client.post(
        reverse("curation:invites", args=[project.slug]),
        {"role": "annotator", "max_uses": 1, "expires_in_days": 7, **data},
    )
    assert response.status_code == 201, response.content.decode()
    return re.search(r'id="invite-link"[^>]*value="([^"]+)"', response.content.decode()).group(1)


def path_of(link: str) -> str:
    return link[link.index("/invite/") :]


@pytest.fixture
def client_factory():
    """Fresh clients: each is another browser."""
    return Client


@pytest.fixture
def owner_client(client, personas):
    client.force_login(personas["owner"])
    return client


# ---------------------------------------------------------------- invitations


@pytest.mark.parametrize("role", ["curator", "annotator", "researcher", "outsider"])
def test_invites_page_is_for_owners_only(client, project, personas, role):
    client.force_login(personas[role])
    url = reverse("curation:invites", args=[project.slug])
    assert client.get(url).status_code == 404
    assert client.post(url, {"role": "owner", "max_uses": 5, "expires_in_days": 7}).status_code == 404
    assert not Invitation.objects.exists()


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.get(reverse("curation:invites", args=[project.slug]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_link_is_shown_once_and_stored_hashed(owner_client, project):
    link = make_link(owner_client, project, role="curator", max_uses=3, note="the curators")
    secret = path_of(link).split("/")[2]
    invitation = Invitation.objects.get()
    assert invitation.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {invitation.digest, invitation.prefix, invitation.note} and len(invitation.prefix) == 6
    assert (invitation.role, invitation.max_uses, invitation.uses) == ("curator", 3, 0)
    page = owner_client.get(reverse("curation:invites", args=[project.slug]))
    assert secret not in page.content.decode() and invitation.prefix in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0") or "no-store" in page["Cache-Control"]


@pytest.mark.parametrize(
    ("data", "field"),
    [({"max_uses": 0}, "max_uses"), ({"expires_in_days": 91}, "expires_in_days"), ({"role": "x"}, "role")],
)
def test_bad_invitation_fields_are_form_errors(owner_client, project, data, field):
    body = {"role": "annotator", "max_uses": 1, "expires_in_days": 7, **data}
    response = owner_client.post(reverse("curation:invites", args=[project.slug]), body)
    assert response.status_code == 422 and response.context["form"].errors[field]
    assert not Invitation.objects.exists()


def test_a_new_person_signs_up_and_joins_with_the_role(owner_client, client_factory, project):
    link = make_link(owner_client, project, role="annotator")
    guest = client_factory()
    page = guest.get(path_of(link))
    assert page.status_code == 200 and "Create an account" in page.content.decode()
    response = guest.post(
        path_of(link),
        {
            "action": "signup",
            "signup-username": "newbie",
            "signup-password1": GOOD_PASSWORD,
            "signup-password2": GOOD_PASSWORD,
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("annotate-project", args=[project.slug])
    user = User.objects.get(username="newbie")
    assert Membership.objects.get(project=project, user=user).role == Role.ANNOTATOR
    assert guest.get(response["Location"]).status_code == 200  # signed in, in the project
    invitation = Invitation.objects.get()
    assert invitation.uses == 1 and list(invitation.accepted_by.all()) == [user]
    # single-use: the next person finds it used up
    again = client_factory().get(path_of(link))
    assert again.status_code == 404 and "does not work" in again.content.decode()


def test_a_weak_password_is_refused_and_nothing_is_created(owner_client, client_factory, project):
    link = make_link(owner_client, project)
    response = client_factory().post(
        path_of(link),
        {"action": "signup", "signup-username": "weak", "signup-password1": "12345678", "signup-password2": "12345678"},
    )
    assert response.status_code == 400
    assert "too common" in response.content.decode() or "entirely numeric" in response.content.decode()
    assert not User.objects.filter(username="weak").exists() and Invitation.objects.get().uses == 0


def test_an_existing_user_signs_in_through_the_link(owner_client, client_factory, project):
    link = make_link(owner_client, project, role="researcher", max_uses=2)
    somebody = UserFactory(username="somebody")
    wrong = client_factory().post(
        path_of(link), {"action": "signin", "signin-username": "somebody", "signin-password": "nope"}
    )
    assert wrong.status_code == 400 and not Membership.objects.filter(user=somebody).exists()
    right = client_factory().post(
        path_of(link), {"action": "signin", "signin-username": "somebody", "signin-password": PASSWORD}
    )
    assert right.status_code == 302
    assert Membership.objects.get(project=project, user=somebody).role == Role.RESEARCHER


def test_a_signed_in_user_joins_with_one_button_and_a_member_keeps_their_role(
    owner_client, client_factory, project, personas
):
    link = make_link(owner_client, project, role="owner", max_uses=5)
    member = client_factory()
    member.force_login(personas["annotator"])
    assert member.post(path_of(link), {"action": "join"}).status_code == 302
    assert project.role_of(personas["annotator"]) == Role.ANNOTATOR  # no promotion by link
    assert Invitation.objects.get().uses == 0
    other = ProjectFactory()
    stranger = UserFactory(username="stranger")
    MembershipFactory(project=other, user=stranger, role=Role.ANNOTATOR)
    member.force_login(stranger)
    assert member.post(path_of(link), {"action": "join"}).status_code == 302
    assert project.role_of(stranger) == Role.OWNER and Invitation.objects.get().uses == 1


def test_up_to_n_people_then_used_up(project, personas):
    invitation, secret = services.invitation_create(project=project, by=personas["owner"], role="annotator", max_uses=2)
    for name in ("p1", "p2"):
        services.invitation_accept(secret=secret, user=UserFactory(username=name))
    assert services.invitation_get_active(secret=secret) is None
    with pytest.raises(Exception, match="not valid any more"):
        services.invitation_accept(secret=secret, user=UserFactory(username="p3"))
    assert Membership.objects.filter(project=project, user__username__in=["p1", "p2", "p3"]).count() == 2


def test_expired_and_revoked_links_do_not_work(owner_client, client_factory, project, personas):
    link = make_link(owner_client, project)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_factory().get(path_of(link)).status_code == 404
    link = make_link(owner_client, project)
    fresh = Invitation.objects.order_by("-created_at").first()
    owner_client.post(reverse("curation:invites", args=[project.slug]), {"action": "revoke", "invitation": fresh.uuid})
    fresh.refresh_from_db()
    assert fresh.state() == "revoked"
    assert client_factory().get(path_of(link)).status_code == 404
    assert client_factory().get("/invite/not-a-real-secret/").status_code == 404


def test_the_link_is_e_mailed_when_a_mail_server_is_configured(owner_client, project, settings):
    settings.EMAIL_HOST = "smtp.example.org"
    page = owner_client.get(reverse("curation:invites", args=[project.slug]))
    assert 'name="email"' in page.content.decode()
    link = make_link(owner_client, project, email="new@example.org")
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body and mail.outbox[0].to == ["new@example.org"]
    settings.EMAIL_HOST = ""
    page = owner_client.get(reverse("curation:invites", args=[project.slug]))
    assert 'name="email"' not in page.content.decode()


# ---------------------------------------------------------------- members' accounts


def account_url(project, username, action):
    return reverse("curation:member-account", args=[project.slug, username, action])


def test_deactivate_keeps_labels_revokes_tokens_and_ends_sessions(owner_client, client_factory, project, personas):
    annotator = personas["annotator"]
    item = make_item(project, "thumb")
    Annotation.objects.create(
        item=item, annotator=Annotator.objects.create(user=annotator, name="a"), kind="thumb", choice="up"
    )
    token_create(user=annotator, name="laptop", ttl=timedelta(days=1))
    session = client_factory()
    session.force_login(annotator)
    assert session.get(reverse("annotate-project", args=[project.slug])).status_code == 200
    response = owner_client.post(account_url(project, annotator.username, "deactivate"))
    assert response.status_code == 302
    annotator.refresh_from_db()
    assert not annotator.is_active and not ApiToken.objects.filter(user=annotator).exists()
    assert Annotation.objects.filter(annotator__user=annotator).count() == 1
    assert Membership.objects.filter(project=project, user=annotator).exists()
    assert session.get(reverse("annotate-project", args=[project.slug])).status_code == 302  # signed out
    members = owner_client.get(reverse("curation:members", args=[project.slug])).content.decode()
    assert "deactivated" in members and "Reactivate" in members
    owner_client.post(account_url(project, annotator.username, "reactivate"))
    annotator.refresh_from_db()
    assert annotator.is_active


def test_an_owner_cannot_touch_an_account_that_belongs_to_other_projects(owner_client, project, personas):
    annotator = personas["annotator"]
    MembershipFactory(project=ProjectFactory(), user=annotator, role=Role.ANNOTATOR)
    response = owner_client.post(account_url(project, annotator.username, "deactivate"), follow=True)
    assert "also a member of projects you do not own" in response.content.decode()
    annotator.refresh_from_db()
    assert annotator.is_active
    own = owner_client.post(account_url(project, personas["owner"].username, "deactivate"), follow=True)
    assert "not on your own account" in own.content.decode()


@pytest.mark.parametrize("role", ["curator", "annotator", "researcher", "outsider"])
def test_only_owners_manage_accounts(client, project, personas, role):
    client.force_login(personas[role])
    target = personas["annotator"].username
    for action in ("deactivate", "reactivate", "reset-link"):
        assert client.post(account_url(project, target, action)).status_code == 404
    personas["annotator"].refresh_from_db()
    assert personas["annotator"].is_active


def test_a_password_reset_link_works_once(owner_client, client_factory, project, personas):
    annotator = personas["annotator"]
    token_create(user=annotator, name="laptop", ttl=timedelta(days=1))
    response = owner_client.post(account_url(project, annotator.username, "reset-link"))
    assert response.status_code == 201 and "no-store" in response["Cache-Control"]
    link = re.search(r'id="reset-link-value"[^>]*value="([^"]+)"', response.content.decode()).group(1)
    guest = client_factory()
    form_page = guest.get(link[link.index("/account/reset/") :], follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = guest.post(form_page.redirect_chain[-1][0], {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD})
    assert done.status_code == 302
    annotator.refresh_from_db()
    assert annotator.check_password(GOOD_PASSWORD)
    assert not ApiToken.objects.filter(user=annotator).exists()  # a password change revokes tokens
    again = client_factory().get(link[link.index("/account/reset/") :], follow=True)
    assert "does not work" in again.content.decode()
    assert owner_client.post(account_url(project, annotator.username, "nonsense")).status_code == 404
