"""``/account/tokens/``: create, list and revoke my API tokens.

A new token is shown once, in the response to the form that made it (never
stored in plain text, never put in a URL or a redirect); the page is sent
with ``Cache-Control: no-store`` so the browser keeps no copy.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import TokenCreateForm
from accounts.models import CrowdLink, CrowdParticipant
from accounts.selectors import tokens_for_user
from accounts.services import token_create, token_revoke, tokens_revoke_for_user
from curation.people.services import (
    CROWD_SESSION_KEY,
    crowd_join,
    crowd_qualification_answer,
    crowd_qualification_next,
    invitation_accept,
    invitation_get_active,
    user_create_by_invitation,
)


def _page(request, form: TokenCreateForm, *, new_token: str = "", new=None, status: int = 200):
    context = {
        "form": form,
        "tokens": tokens_for_user(user=request.user),
        "now": timezone.now(),
        "new_token": new_token,
        "new": new,
        "api_url": request.build_absolute_uri("/api/v1/"),
    }
    return render(request, "accounts/tokens.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
@never_cache
def tokens(request):
    """The list, and the create form (POST): the new token is in this response only."""
    if request.method == "GET":
        return _page(request, TokenCreateForm())
    form = TokenCreateForm(request.POST)
    if form.is_valid():
        try:
            instance, plain = token_create(user=request.user, name=form.cleaned_data["name"], ttl=form.ttl)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
                form.add_error(field if field in form.fields else None, errors)
        else:
            return _page(request, TokenCreateForm(), new_token=plain, new=instance, status=201)
    return _page(request, form, status=422)


@require_POST
@login_required
def token_revoke_view(request, token_id):
    token = token_revoke(user=request.user, token_id=token_id)
    messages.success(request, f"Token “{token.name or token.token_key}” revoked: it no longer works.")
    return redirect("account-tokens")


@require_POST
@login_required
def tokens_revoke_all(request):
    count = tokens_revoke_for_user(user=request.user)
    messages.success(request, f"{count} token{'s' if count != 1 else ''} revoked.")
    return redirect("account-tokens")


# ---------------------------------------------------------------- invitations


@require_http_methods(["GET", "POST"])
@never_cache
def invite(request, secret):
    """``/invite/<secret>/``: join a project by an invitation link.

    Signed in: one button joins. Otherwise: create an account (username and
    a password Django's validators accept) or sign in (rate-limited like the
    login page); either joins at once and lands on the project's page. A link
    that is unknown, expired, used up or revoked is a 404 that says so.
    """
    invitation = invitation_get_active(secret=secret)
    if invitation is None:
        return render(request, "accounts/invite_invalid.html", status=404)
    signup = UserCreationForm(prefix="signup")
    signin = AuthenticationForm(request, prefix="signin")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        user = None
        try:
            if action == "join" and request.user.is_authenticated:
                user = request.user
                invitation_accept(secret=secret, user=user)
            elif action == "signup":
                signup = UserCreationForm(request.POST, prefix="signup")
                if signup.is_valid():
                    user = user_create_by_invitation(
                        secret=secret,
                        username=signup.cleaned_data["username"],
                        password=signup.cleaned_data["password1"],
                    )
            elif action == "signin":
                signin = AuthenticationForm(request, data=request.POST, prefix="signin")
                if signin.is_valid():
                    user = signin.get_user()
                    invitation_accept(secret=secret, user=user)
        except ValidationError as error:
            form = signup if action == "signup" else signin
            for field, problems in (
                error.message_dict.items() if hasattr(error, "error_dict") else [(None, error.messages)]
            ):
                form.add_error(field if field in form.fields else None, problems)
            user = None
        if user is not None:
            if not request.user.is_authenticated or request.user.pk != user.pk:
                login(request, user, backend="config.auth.CachedModelBackend")
            messages.success(request, f"Welcome to {invitation.project.name}.")
            return redirect("annotate-project", slug=invitation.project.slug)
        status = 400
    context = {"invitation": invitation, "project": invitation.project, "signup": signup, "signin": signin}
    return render(request, "accounts/invite.html", context, status=status)


# ---------------------------------------------------------------- crowd enrolment


@require_http_methods(["GET", "POST"])
@never_cache
def crowd_join_view(request, token):
    """``/join/<token>/?<param>=<external id>``: enrol (or resume) a crowd
    participant, sign them in (no password) and start them annotating.

    Someone signed in as another (not crowd) account is asked first (a
    CSRF-protected POST), so a link planted on another site cannot sign
    them out and into a participant's account."""
    link = CrowdLink.objects.select_related("project").filter(token=token, enabled=True).first()
    if link is None:
        return render(request, "accounts/crowd_closed.html", status=404)
    external_id = request.GET.get(link.participant_param, "")
    current = request.user if request.user.is_authenticated else None
    if current is not None and request.method == "GET":
        mine = CrowdParticipant.objects.filter(user=current, link=link).first()
        if mine is None or mine.external_id != external_id.strip():
            context = {"link": link, "project": link.project, "external_id": external_id}
            return render(request, "accounts/crowd_confirm.html", context)
    try:
        participant = crowd_join(token=token, external_id=external_id)
    except ValidationError:
        context = {"link": link, "project": link.project}
        return render(request, "accounts/crowd_missing_id.html", context, status=400)
    if current is None or current.pk != participant.user_id:
        logout(request)
        login(request, participant.user, backend="config.auth.CachedModelBackend")
    request.session[CROWD_SESSION_KEY] = link.project.slug
    if link.qualification_items and participant.qualified is not True:
        return redirect("crowd-qualify", token=token)
    if participant.completed_at is not None:
        return redirect("crowd-done", token=token)
    return redirect("annotate-next", slug=link.project.slug)


@require_http_methods(["GET"])
@login_required
@never_cache
def crowd_done(request, token):
    """The completion code and the way back to the crowd platform."""
    participant = (
        CrowdParticipant.objects.select_related("link__project")
        .filter(user=request.user, link__token=token, completed_at__isnull=False)
        .first()
    )
    if participant is None:
        raise Http404("Not finished yet")
    link = participant.link
    return render(request, "accounts/crowd_done.html", {"link": link, "project": link.project})


@require_http_methods(["GET", "POST"])
@login_required
@never_cache
def crowd_qualify(request, token):
    """The qualification: the gold items one at a time, then real work (or,
    below the accuracy, a polite stop). Only the participant; 404 otherwise."""
    participant = (
        CrowdParticipant.objects.select_related("link__project").filter(user=request.user, link__token=token).first()
    )
    if participant is None or not participant.link.qualification_items:
        raise Http404("No qualification here")
    link = participant.link
    status = 200
    error = ""
    if request.method == "POST" and participant.qualified is None:
        try:
            participant = crowd_qualification_answer(
                participant=participant, item_uuid=request.POST.get("item", ""), answer=request.POST.get("answer", "")
            )
        except ValidationError as problem:
            error, status = " ".join(problem.messages), 400
        else:
            if participant.qualified:
                return redirect("annotate-next", slug=link.project.slug)
            return redirect("crowd-qualify", token=token)
    if participant.qualified:
        return redirect("annotate-next", slug=link.project.slug)
    item = crowd_qualification_next(participant=participant) if participant.qualified is None else None
    context = {
        "link": link,
        "project": link.project,
        "participant": participant,
        "item": item,
        "responses": item.ordered_responses() if item is not None else [],
        "number": len(participant.qualification or {}) + 1,
        "error": error,
    }
    return render(request, "accounts/crowd_qualify.html", context, status=status)
