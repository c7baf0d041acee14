"""The webhooks pages under ``/p/<slug>/curate/webhooks/`` (namespace ``webhooks``): owners and
curators; everyone else gets 404.

The list shows the project's hooks and a form to add one; a hook's page shows
its secret, its settings (events, URL, on/off, a new secret) and its
delivery log (status code, attempts, error) with a "Redeliver" button per
delivery. Every write goes through ``curation.webhooks.services``.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotate.selectors import project_for_curator
from curation.jobs.views import form_errors_add
from curation.models import WebhookEventType
from curation.webhooks.selectors import delivery_get, webhook_deliveries, webhook_get_for_curator, webhooks_for_project
from curation.webhooks.services import webhook_create, webhook_delete, webhook_redeliver, webhook_update


class WebhookForm(forms.Form):
    url = forms.CharField(label="URL", max_length=2000, help_text="Events are POSTed here as signed JSON.")
    description = forms.CharField(required=False, max_length=200)
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    active = forms.BooleanField(required=False, initial=True, label="Active")


@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request, slug):
    project = project_for_curator(request.user, slug)
    status = 200
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                hook = webhook_create(
                    project=project,
                    user=request.user,
                    url=data["url"],
                    events=data["events"],
                    description=data["description"],
                )
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                messages.success(request, "Webhook added. Its secret is on its page: use it to check signatures.")
                return redirect("webhooks:detail", slug=project.slug, webhook_uuid=hook.uuid)
        status = 422
    else:
        form = WebhookForm(initial={"events": [WebhookEventType.EXPORT_SUCCEEDED, WebhookEventType.EXPORT_FAILED]})
    context = {"project": project, "form": form, "hooks": webhooks_for_project(project=project), "section": "webhooks"}
    return render(request, "curation/webhooks/list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_detail(request, slug, webhook_uuid):
    hook = webhook_get_for_curator(request.user, slug, webhook_uuid)
    status = 200
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                webhook_update(
                    webhook=hook,
                    url=data["url"],
                    events=data["events"],
                    description=data["description"],
                    active=data["active"],
                    rotate_secret=request.POST.get("rotate_secret") == "1",
                )
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                messages.success(request, "Webhook saved.")
                return redirect("webhooks:detail", slug=slug, webhook_uuid=hook.uuid)
        hook.refresh_from_db()
        status = 422
    else:
        form = WebhookForm(
            initial={"url": hook.url, "description": hook.description, "events": hook.events, "active": hook.active}
        )
    context = {
        "project": hook.project,
        "hook": hook,
        "form": form,
        "deliveries": webhook_deliveries(webhook=hook),
        "section": "webhooks",
    }
    return render(request, "curation/webhooks/detail.html", context, status=status)


@login_required
@require_POST
def webhook_delete_view(request, slug, webhook_uuid):
    hook = webhook_get_for_curator(request.user, slug, webhook_uuid)
    webhook_delete(webhook=hook)
    messages.info(request, "Webhook deleted.")
    return redirect("webhooks:list", slug=slug)


@login_required
@require_POST
def delivery_redeliver_view(request, slug, webhook_uuid, delivery_uuid):
    hook = webhook_get_for_curator(request.user, slug, webhook_uuid)
    delivery = delivery_get(webhook=hook, delivery_uuid=delivery_uuid)
    try:
        webhook_redeliver(delivery=delivery)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.info(request, "Queued again.")
    return redirect("webhooks:detail", slug=slug, webhook_uuid=hook.uuid)
