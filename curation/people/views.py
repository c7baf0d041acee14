"""The people pages: ``/p/<slug>/curate/invites/`` (create, list, revoke
invitation links) and the member account actions of the members page
(deactivate, reactivate, a password reset link). Owners only: everyone else,
curators included, gets 404. A new link, like a reset link, is shown once,
in the response to the form that made it (``Cache-Control: no-store``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import CrowdLink, CrowdParticipant, Invitation
from annotate.models import Role
from annotate.selectors import project_get_for_user
from curation.jobs.views import form_errors_add
from curation.people import services
from curation.people.forms import CrowdLinkForm, InvitationForm

ACCOUNT_ACTIONS = ("deactivate", "reactivate", "reset-link")


def _owner_project(request, slug):
    project, _role = project_get_for_user(request.user, slug, {Role.OWNER})
    return project


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def invites(request, slug):
    project = _owner_project(request, slug)
    email_enabled = services.email_configured()
    status = 200
    new_link = ""
    new = None
    form = InvitationForm(email_enabled=email_enabled)
    if request.method == "POST" and request.POST.get("action") == "revoke":
        try:
            services.invitation_revoke(project=project, invitation_uuid=request.POST.get("invitation"), by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Invitation revoked: its link no longer works.")
        return redirect("curation:invites", slug=project.slug)
    if request.method == "POST":
        form = InvitationForm(request.POST, email_enabled=email_enabled)
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                new, secret = services.invitation_create(
                    project=project,
                    by=request.user,
                    role=data["role"],
                    max_uses=data["max_uses"],
                    expires_in_days=data["expires_in_days"],
                    note=data["note"],
                )
                new_link = request.build_absolute_uri(services.invitation_path(secret))
                if data.get("email"):
                    services.invitation_send(invitation=new, link=new_link, email=data["email"], by=request.user)
                    messages.success(request, f"The link was also sent to {data['email']}.")
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                status = 201
                form = InvitationForm(email_enabled=email_enabled)
    context = {
        "project": project,
        "form": form,
        "invitations": Invitation.objects.filter(project=project)
        .select_related("created_by")
        .prefetch_related("accepted_by")[:100],
        "new": new,
        "new_link": new_link,
        "section": "members",
    }
    return render(request, "curation/invites.html", context, status=status)


@login_required
@require_POST
@never_cache
def member_account(request, slug, username, action):
    """``deactivate``, ``reactivate`` or ``reset-link`` for one member's account."""
    project = _owner_project(request, slug)
    if action not in ACCOUNT_ACTIONS:
        raise Http404("No such action")
    try:
        if action == "deactivate":
            revoked = services.member_deactivate(project=project, username=username, by=request.user)
            messages.success(
                request, f"{username} is deactivated ({revoked} API token{'s' if revoked != 1 else ''} revoked)."
            )
        elif action == "reactivate":
            services.member_reactivate(project=project, username=username, by=request.user)
            messages.success(request, f"{username} can sign in again.")
        else:
            path = services.member_password_reset_path(project=project, username=username, by=request.user)
            context = {
                "project": project,
                "username": username,
                "link": request.build_absolute_uri(path),
                "timeout_days": settings.PASSWORD_RESET_TIMEOUT // 86400,
                "section": "members",
            }
            return render(request, "curation/password_reset_link.html", context, status=201)
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
    return redirect("curation:members", slug=project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def crowd(request, slug):
    """``/p/<slug>/curate/crowd/``: the open enrolment link of a crowd study (owners)."""
    project = _owner_project(request, slug)
    link = CrowdLink.objects.filter(project=project).first()
    status = 200
    if request.method == "POST":
        form = CrowdLinkForm(request.POST)
        status = 422
        if form.is_valid():
            try:
                link = services.crowd_link_save(project=project, by=request.user, **form.cleaned_data)
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                messages.success(request, "Saved.")
                return redirect("curation:crowd", slug=project.slug)
    else:
        initial = {}
        if link is not None:
            initial = {
                "enabled": link.enabled,
                "participant_param": link.participant_param,
                "items_required": link.items_required,
                "completion_code": link.completion_code,
                "return_url": link.return_url,
                "qualification_items": link.qualification_items,
                "qualification_min_accuracy": link.qualification_min_accuracy,
            }
        form = CrowdLinkForm(initial=initial or None)
    participants = CrowdParticipant.objects.filter(link=link) if link else CrowdParticipant.objects.none()
    context = {
        "project": project,
        "form": form,
        "link": link,
        "join_url": request.build_absolute_uri(reverse("crowd-join", args=[link.token])) if link else "",
        "enrolled": participants.count(),
        "completed": participants.filter(completed_at__isnull=False).count(),
        "stopped": participants.filter(qualified=False).count(),
        "section": "members",
    }
    return render(request, "curation/crowd.html", context, status=status)
