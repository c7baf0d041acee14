"""API tokens: the /account/tokens/ page, the token API, revocation on a
password change, and the copy of tokens made before named tokens existed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import LAST_USED_RESOLUTION, token_create, tokens_revoke_for_user
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/account/tokens/"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def new_token(user, name="script", days=7) -> tuple[ApiToken, str]:
    return token_create(user=user, name=name, ttl=timedelta(days=days))


# ----------------------------------------------------------------- the page


def test_page_creates_a_token_shown_once_that_works(personas):
    user = personas["researcher"]
    client = browser(user)
    response = client.post(PAGE, {"name": "laptop notebook", "expires_in": "30"})
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    plain = re.search(r'id="token-value"[^>]*value="([^"]+)"', html).group(1)
    stored = ApiToken.objects.get(user=user)
    assert stored.name == "laptop notebook"
    assert plain.startswith("dkt_") and plain not in (stored.digest, stored.token_key)
    assert abs(stored.expiry - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert api(plain).get("/api/v1/projects/").status_code == 200

    again = client.get(PAGE).content.decode()
    assert plain not in again  # shown once
    assert "laptop notebook" in again and stored.token_key in again


def test_page_lists_name_created_last_used_and_expiry(personas):
    user = personas["researcher"]
    used, plain = new_token(user, "nightly export")
    new_token(user, "never used", days=1)
    api(plain).get("/api/v1/projects/")
    expired, _ = new_token(user, "old one")
    ApiToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(hours=1))
    html = browser(user).get(PAGE).content.decode()
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-token="([^"]+)">(.*?)</tr>', html, re.S)}
    used.refresh_from_db()
    assert used.last_used_at is not None
    row = rows[str(used.uuid)]
    assert "nightly export" in row
    assert used.created.strftime("%Y-%m-%d %H:%M") in row
    assert used.last_used_at.strftime("%Y-%m-%d %H:%M") in row
    assert used.expiry.strftime("%Y-%m-%d %H:%M") in row
    assert "never" in next(r for r in rows.values() if "never used" in r)
    assert "expired" in rows[str(expired.uuid)]
    assert "expired" not in row


@pytest.mark.parametrize(
    ("data", "field"),
    [({"name": "", "expires_in": "7"}, "name"), ({"name": "x" * 101, "expires_in": "7"}, "name"),
     ({"name": "ok", "expires_in": "365"}, "expires_in"), ({"name": "tab\there", "expires_in": "7"}, "name")],
)  # fmt: skip
def test_page_form_errors_create_nothing(personas, data, field):
    response = browser(personas["researcher"]).post(PAGE, data)
    assert response.status_code == 422
    assert field in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_revoke_one_and_all(personas):
    user = personas["researcher"]
    first, first_plain = new_token(user, "first")
    _second, second_plain = new_token(user, "second")
    client = browser(user)
    response = client.post(reverse("account-token-revoke", args=[first.uuid]))
    assert response.status_code == 302
    assert api(first_plain).get("/api/v1/projects/").status_code == 401
    assert api(second_plain).get("/api/v1/projects/").status_code == 200
    client.post(reverse("account-tokens-revoke-all"))
    assert api(second_plain).get("/api/v1/projects/").status_code == 401
    assert not ApiToken.objects.filter(user=user).exists()


def test_nobody_revokes_or_sees_someone_elses_token(personas):
    owner_token, owner_plain = new_token(personas["owner"], "owner's secret script")
    other = browser(personas["researcher"])
    assert other.post(reverse("account-token-revoke", args=[owner_token.uuid])).status_code == 404
    assert other.get(reverse("account-token-revoke", args=[owner_token.uuid])).status_code == 405
    assert "owner's secret script" not in other.get(PAGE).content.decode()
    other.post(reverse("account-tokens-revoke-all"))
    assert api(owner_plain).get("/api/v1/projects/").status_code == 200


def test_page_needs_a_login():
    response = Client().get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Client().post(PAGE, {"name": "x", "expires_in": "7"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_page_posts_need_csrf(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["researcher"])
    assert client.post(PAGE, {"name": "x", "expires_in": "7"}).status_code == 403
    assert not ApiToken.objects.exists()


# ----------------------------------------------------------------- the API


def test_token_endpoint_names_the_token_and_the_list_shows_it(personas):
    user = personas["researcher"]
    body = {"username": user.username, "password": PASSWORD, "name": "ci job", "ttl_hours": 2}
    created = APIClient().post("/api/v1/auth/token/", body, format="json")
    assert created.status_code == 201, created.content
    out = created.json()
    assert set(out) == {"token", "id", "name", "expiry"} and out["name"] == "ci job"
    new_token(user, "another")
    listed = api(out["token"]).get("/api/v1/auth/tokens/").json()
    assert [t["name"] for t in listed["results"]] == ["another", "ci job"]
    mine = next(t for t in listed["results"] if t["id"] == out["id"])
    assert mine["current"] is True and mine["last_used_at"] is not None
    assert "token" not in mine and out["token"].startswith(mine["prefix"])


@pytest.mark.parametrize("ttl", [0, 24 * 90 + 1])
def test_token_endpoint_bounds_the_lifetime(personas, ttl):
    body = {"username": personas["researcher"].username, "password": PASSWORD, "ttl_hours": ttl}
    response = APIClient().post("/api/v1/auth/token/", body, format="json")
    assert response.status_code == 400 and "ttl_hours" in response.json()["error"]["fields"]
    assert not ApiToken.objects.exists()


def test_api_revokes_only_my_tokens(personas):
    mine, plain = new_token(personas["researcher"])
    theirs, their_plain = new_token(personas["owner"])
    client = api(plain)
    assert client.delete(f"/api/v1/auth/tokens/{theirs.uuid}/").status_code == 404
    assert api(their_plain).get("/api/v1/projects/").status_code == 200
    assert personas["owner"].username not in client.get("/api/v1/auth/tokens/").content.decode()
    assert client.delete(f"/api/v1/auth/tokens/{mine.uuid}/").status_code == 204
    assert client.get("/api/v1/projects/").status_code == 401
    assert APIClient().get("/api/v1/auth/tokens/").status_code == 401


def test_last_use_is_written_at_most_once_a_minute(personas):
    token, plain = new_token(personas["researcher"])
    client = api(plain)
    client.get("/api/v1/me/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get("/api/v1/me/")
    token.refresh_from_db()
    assert token.last_used_at == first  # no write within the minute
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - LAST_USED_RESOLUTION)
    client.get("/api/v1/me/")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_expired_token_is_refused_and_removed(personas):
    token, plain = new_token(personas["researcher"])
    ApiToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = api(plain).get("/api/v1/projects/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_inactive_users_tokens_are_refused(personas):
    user = personas["researcher"]
    _token, plain = new_token(user)
    user.is_active = False
    user.save()
    assert api(plain).get("/api/v1/projects/").status_code == 401
    with pytest.raises(ValidationError):
        new_token(user)


# ----------------------------------------------------------------- revocation


def test_password_change_revokes_every_token(personas):
    user = personas["researcher"]
    _a, first = new_token(user, "a")
    _b, second = new_token(user, "b")
    _o, others = new_token(personas["owner"], "someone else's")
    form = SetPasswordForm(
        user, {"new_password1": "an0ther-l0ng-passphrase", "new_password2": "an0ther-l0ng-passphrase"}
    )
    assert form.is_valid(), form.errors
    form.save()  # what the admin's and the reset pages' forms do
    assert api(first).get("/api/v1/projects/").status_code == 401
    assert api(second).get("/api/v1/projects/").status_code == 401
    assert api(others).get("/api/v1/projects/").status_code == 200


def test_set_password_and_save_revoke_and_unusable_password_too(personas):
    user = personas["researcher"]
    new_token(user)
    user.set_password("something-else-entirely")
    user.save()
    assert not ApiToken.objects.filter(user=user).exists()
    new_token(user)
    user.set_unusable_password()
    user.save()
    assert not ApiToken.objects.filter(user=user).exists()


@pytest.mark.parametrize("update_fields", [None, ["is_active"]])
def test_deactivating_by_any_route_revokes_and_reactivating_brings_none_back(personas, update_fields):
    """The admin's change form and a shell save the user as the owner's members page does (issue 15, point 2)."""
    user = personas["researcher"]
    _token, plain = new_token(user)
    _o, others = new_token(personas["owner"], "someone else's")
    user.is_active = False
    user.save(update_fields=update_fields)
    assert not ApiToken.objects.filter(user=user).exists()
    user.is_active = True
    user.save(update_fields=update_fields)
    assert api(plain).get("/api/v1/projects/").status_code == 401
    assert api(others).get("/api/v1/projects/").status_code == 200
    # A token made while active, then a save that leaves the account active: kept.
    _token, again = new_token(user)
    user.save()
    assert api(again).get("/api/v1/projects/").status_code == 200


def test_other_saves_keep_the_tokens(personas):
    user = personas["researcher"]
    _token, plain = new_token(user)
    user.first_name = "Ada"
    user.save()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert (
        APIClient()
        .post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
        .status_code
        == 201
    )  # a login saves last_login
    assert api(plain).get("/api/v1/projects/").status_code == 200


def test_a_hash_upgrade_on_login_is_not_a_password_change(personas, settings):
    user = personas["researcher"]
    _token, plain = new_token(user)
    assert user.password.startswith("md5$")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 201
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")  # Django re-hashed it on login
    assert api(plain).get("/api/v1/projects/").status_code == 200


def test_tokens_revoke_for_user_revokes_only_theirs(personas):
    user = personas["researcher"]
    new_token(user, "a")
    new_token(user, "b")
    _other, others = new_token(personas["owner"])
    assert tokens_revoke_for_user(user=user) == 2
    assert tokens_revoke_for_user(user=user) == 0
    assert api(others).get("/api/v1/projects/").status_code == 200


# ----------------------------------------------------------------- tokens from before


@pytest.mark.django_db(transaction=True)
def test_tokens_made_with_knox_before_keep_working_after_the_migration():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from knox.crypto import create_token_string, hash_token

    user = UserFactory(username="old-timer")
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", None)])
    plain = "dkt_" + create_token_string()
    knox_token = executor.loader.project_state([("knox", "0009_extend_authtoken_field")]).apps.get_model(
        "knox", "AuthToken"
    )
    knox_token.objects.create(
        digest=hash_token(plain), token_key=plain[:15], user_id=user.pk, expiry=timezone.now() + timedelta(days=1)
    )
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_apitoken")])
    copied = ApiToken.objects.get(user=user)
    assert (copied.name, copied.token_key) == ("API login", plain[:15])
    assert api(plain).get("/api/v1/me/").status_code == 200
    assert not knox_token.objects.exists()  # the old rows are gone
