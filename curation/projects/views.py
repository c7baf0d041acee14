"""The curator's project pages: projects with progress, a new project, the
overview, settings (with the guidelines' live preview), principles, custom questions, members and roles,
import upload, the activity log.

Every view is ``login_required`` and looks its project up through
``annotate.selectors.project_for_curator`` (or ``project_get_for_user``), so
anyone who is not an owner or curator of the project gets 404. Only owners
change members; a curator posting to the members page gets 403 (they can see
the project, so 404 would hide nothing); the same holds for settings and
principles. A new
project may be created by staff and by anyone with the ``add_project``
permission (``user_may_create_projects``); others get 404. The import page
queues an import job through ``import_create``, the service ``manage.py
import_items`` and the API use.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, Count, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from annotate.models import CURATE_ROLES, Membership, Principle, Question, Role
from annotate.selectors import project_for_curator, project_get_for_user, user_may_create_projects
from curation.imports.services import import_create
from curation.jobs.selectors import jobs_recent
from curation.jobs.views import form_errors_add
from curation.models import JobKind
from curation.projects import questions, services
from curation.projects.forms import (
    ActivityFilterForm,
    ImportForm,
    MemberAddForm,
    MemberRemoveForm,
    MemberRoleForm,
    PrincipleActionForm,
    PrincipleForm,
    ProjectCreateForm,
    ProjectSettingsForm,
    QuestionActionForm,
    QuestionForm,
    guidance_initial,
    options_to_text,
)
from curation.projects.selectors import (
    activity_actors,
    activity_list,
    annotator_stats,
    principles_with_verdicts,
    progress_by_kind,
    projects_for_curator,
    recent_imports,
)

ACTIVITY_PER_PAGE = 50


@login_required
def projects(request):
    mine = list(projects_for_curator(request.user))
    progress = progress_by_kind(projects=mine)
    rows = [{"project": p, "kinds": progress[p.pk]} for p in mine]
    context = {"rows": rows, "can_create_project": user_may_create_projects(request.user)}
    return render(request, "curation/projects.html", context)


@login_required
def overview(request, slug):
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    kinds = progress_by_kind(projects=[project])[project.pk]
    context = {
        "project": project,
        "role": role,
        "kinds": kinds,
        "total": kinds["all"],
        "annotators": annotator_stats(project=project),
        "imports": recent_imports(project=project),
        "recent_jobs": jobs_recent(project=project, limit=10),
        "section": "overview",
    }
    return render(request, "curation/overview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def members(request, slug):
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    is_owner = role == Role.OWNER
    add_form = MemberAddForm()
    status = 200
    if request.method == "POST":
        if not is_owner:
            raise PermissionDenied("Only owners change members.")
        action = request.POST.get("action")
        form_class = {"add": MemberAddForm, "role": MemberRoleForm, "remove": MemberRemoveForm}.get(action)
        if form_class is None:
            messages.error(request, "Unknown action.")
            return redirect("curation:members", slug=project.slug)
        form = form_class(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError({field: list(problems) for field, problems in form.errors.items()})
            data = form.cleaned_data
            if action == "add":
                services.membership_add(project=project, username=data["username"], role=data["role"], by=request.user)
                messages.success(request, f"Added {data['username']} as {data['role']}.")
            elif action == "role":
                services.membership_set_role(
                    project=project, username=data["username"], role=data["role"], by=request.user
                )
                messages.success(request, f"{data['username']} is now {data['role']}.")
            else:
                services.membership_remove(project=project, username=data["username"], by=request.user)
                messages.success(request, f"Removed {data['username']}.")
            if data["username"] == request.user.get_username() and project.role_of(request.user) not in CURATE_ROLES:
                return redirect("home")  # I stepped down or left: this page is no longer mine.
            return redirect("curation:members", slug=project.slug)
        except ValidationError as error:
            status = 400
            if action == "add":
                add_form = MemberAddForm(request.POST)
            for field, problems in error.message_dict.items():
                for problem in problems:
                    messages.error(request, f"{field}: {problem}")
    role_rank = Case(*(When(role=value, then=Value(rank)) for rank, value in enumerate(Role.values)))
    memberships = (
        Membership.objects.filter(project=project).select_related("user").order_by(role_rank, "user__username")
    )
    context = {
        "project": project,
        "role": role,
        "is_owner": is_owner,
        "memberships": memberships,
        "roles": Role.choices,
        "add_form": add_form,
        "section": "members",
    }
    return render(request, "curation/members.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def import_items(request, slug):
    """The upload form. A POST stores the file and queues an import job
    (``import_create``), then redirects to the job's page, which shows its
    progress, the report and the rejected lines; the request never waits
    for the import itself."""
    project = project_for_curator(request.user, slug)
    status = 200
    form = ImportForm()
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            params = {
                "file": upload,
                "file_name": upload.name,
                "source_name": form.cleaned_data["source_name"],
                "skip_invalid": form.cleaned_data["skip_invalid"],
            }
            try:
                with transaction.atomic():
                    job = import_create(project=project, user=request.user, params=params)
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                return redirect("jobs:detail", slug=project.slug, job_uuid=job.uuid)
        status = 400
    context = {
        "project": project,
        "form": form,
        "recent_jobs": jobs_recent(project=project, limit=10, kinds=[JobKind.IMPORT]),
        "section": "import",
    }
    return render(request, "curation/import.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def activity(request, slug):
    """The project's activity log, newest first, filtered by verb and actor;
    htmx requests (the filters) get only the ``log`` partial."""
    project = project_for_curator(request.user, slug)
    form = ActivityFilterForm(request.GET or None, actors=activity_actors(project=project))
    filters = {"verb": "", "actor": ""}
    status = 200
    if form.is_bound:
        if form.is_valid():
            filters = {"verb": form.cleaned_data["verb"], "actor": form.cleaned_data["actor"]}
        else:
            status = 400
    page = Paginator(activity_list(project=project, **filters), ACTIVITY_PER_PAGE).get_page(request.GET.get("page"))
    context = {"project": project, "form": form, "page": page, "section": "activity"}
    template = "curation/activity.html#log" if request.htmx else "curation/activity.html"
    return render(request, template, context, status=status)


def _form_errors_from(form, error: ValidationError) -> None:
    """A service's ``ValidationError`` shown on the form's fields (unknown fields as form errors)."""
    for field, problems in error.message_dict.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request):
    if not user_may_create_projects(request.user):
        raise Http404("No such page")
    form = ProjectCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                project = services.project_create(**form.cleaned_data, user=request.user)
            except ValidationError as error:
                _form_errors_from(form, error)
            else:
                messages.success(request, f"Created {project.name}. Write its guidelines and set it up here.")
                return redirect("curation:settings", slug=project.slug)
        status = 400
    return render(request, "curation/project_new.html", {"form": form, "project": None}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, slug):
    """Owners change the settings (``project_update``); curators see them read-only."""
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    is_owner = role == Role.OWNER
    status = 200
    if request.method == "POST":
        if not is_owner:
            raise PermissionDenied("Only owners change a project's settings.")
        form = ProjectSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.project_update(project=project, user=request.user, **form.cleaned_data)
            except ValidationError as error:
                _form_errors_from(form, error)
            else:
                messages.success(request, "Settings saved.")
                return redirect("curation:settings", slug=project.slug)
        status = 400
    else:
        form = ProjectSettingsForm(initial={name: getattr(project, name) for name in services.SETTINGS_FIELDS})
    if not is_owner:
        for field in form.fields.values():
            field.disabled = True
    context = {"project": project, "role": role, "is_owner": is_owner, "form": form, "section": "settings"}
    return render(request, "curation/settings.html", context, status=status)


@login_required
@require_http_methods(["POST"])
def guidelines_preview(request, slug):
    """The guidelines as annotators will see them (the ``markdown`` filter), for the settings page's live preview."""
    project_for_curator(request.user, slug)
    text = request.POST.get("guidelines", "")
    return render(request, "curation/settings.html#preview", {"guidelines": text})


PRINCIPLE_ACTIONS = ("add", "edit", "up", "down", "retire", "restore")


def _owner_action(request, project, *, is_owner: bool, noun: str, actions, run, done_url: str):
    """An owner's POST on a principles or questions page: check the role and the
    action, run it through ``run(request, project, action)`` (a service call that
    returns the success message) and redirect to ``done_url``; on a refused
    action, ``(None, action, errors)`` for the page to show with a 400."""
    if not is_owner:
        raise PermissionDenied(f"Only owners change {noun}.")
    action = request.POST.get("action")
    if action not in actions:
        return None, action, {"action": ["unknown action"]}
    try:
        messages.success(request, run(request, project, action))
        return redirect(done_url, slug=project.slug), action, {}
    except ValidationError as error:
        return None, action, error.message_dict


def _principle_action(request, project, action: str) -> str:
    """Carry out one principle action of the principles page; returns what to tell the owner."""
    form = (PrincipleForm if action in ("add", "edit") else PrincipleActionForm)(request.POST)
    if not form.is_valid():
        raise ValidationError({field: list(problems) for field, problems in form.errors.items()})
    data = form.cleaned_data
    if action == "add":
        added = services.principle_add(
            project=project,
            name=data["name"],
            description=data["description"],
            guidance=data["guidance"],
            user=request.user,
        )
        return f"Added {added.name}."
    principle = Principle.objects.filter(project=project, pk=data["principle"]).first()
    if principle is None:
        raise ValidationError({"principle": "no such principle in this project"})
    if action == "edit":
        before = principle.current_version_id
        services.principle_update(
            principle=principle,
            name=data["name"],
            description=data["description"],
            guidance=data["guidance"],
            user=request.user,
        )
        if principle.current_version_id == before:
            return f"{principle.name}: nothing changed."
        return f"Saved {principle.name} as version {principle.current_version.number}."
    if action in ("up", "down"):
        services.principle_move(principle=principle, offset=-1 if action == "up" else 1, user=request.user)
        return f"Moved {principle.name} {action}."
    services.principle_retire(principle=principle, retired=action == "retire", user=request.user)
    return f"Retired {principle.name}." if action == "retire" else f"Restored {principle.name}."


@login_required
@require_http_methods(["GET", "POST"])
def principles(request, slug):
    """The project's principles: owners add, edit, reorder, retire and restore
    them (``principle_*`` services); curators read them."""
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    is_owner = role == Role.OWNER
    add_form = PrincipleForm()
    status = 200
    errors: dict[str, list[str]] = {}
    failed = None
    if request.method == "POST":
        done, action, errors = _owner_action(
            request, project, is_owner=is_owner, noun="principles", actions=PRINCIPLE_ACTIONS,
            run=_principle_action, done_url="curation:principles",
        )  # fmt: skip
        if done:
            return done
        status = 400
        if action == "add":
            add_form = PrincipleForm(request.POST)
            for field, problems in errors.items():
                for problem in problems:
                    add_form.add_error(field if field in add_form.fields else None, problem)
            errors = {}
        else:
            failed = request.POST.get("principle")
    rows = principles_with_verdicts(project=project)
    for row in rows:
        row.guidance_text = guidance_initial(row.guidance)
    context = {
        "project": project,
        "role": role,
        "is_owner": is_owner,
        "in_use": [p for p in rows if p.retired_at is None],
        "retired": [p for p in rows if p.retired_at is not None],
        "add_form": add_form,
        "errors": errors,
        "failed": str(failed or ""),
        "section": "principles",
    }
    return render(request, "curation/principles.html", context, status=status)


QUESTION_ACTIONS = ("add", "edit", "up", "down", "retire", "restore")


def _question_spec(form: QuestionForm, files) -> dict:
    spec = form.spec()
    upload = files.get("taxonomy")
    if upload is not None:
        spec["options"] = questions.taxonomy_parse(upload.read(questions.TAXONOMY_BYTES_MAX + 1))
    return spec


def _question_action(request, project, action: str) -> str:
    """Carry out one action of the questions page (``question_*`` services); what to tell the owner."""
    form = (QuestionForm if action in ("add", "edit") else QuestionActionForm)(request.POST, request.FILES)
    if not form.is_valid():
        raise ValidationError({field: list(problems) for field, problems in form.errors.items()})
    if action == "add":
        added = questions.question_add(project=project, spec=_question_spec(form, request.FILES), user=request.user)
        return f"Added question {added.key}."
    question = (
        Question.objects.select_related("current").filter(project=project, pk=form.cleaned_data["question"]).first()
    )
    if question is None:
        raise ValidationError({"question": "no such question in this project"})
    if action == "edit":
        before = question.current_id
        questions.question_update(question=question, spec=_question_spec(form, request.FILES), user=request.user)
        changed = question.current_id != before
        return f"Saved {question.key} (version {question.current.number})." if changed else "Nothing changed."
    if action in ("up", "down"):
        questions.question_move(question=question, offset=-1 if action == "up" else 1, user=request.user)
        return f"Moved {question.key} {action}."
    questions.question_retire(question=question, retired=action == "retire", user=request.user)
    return f"Retired {question.key}." if action == "retire" else f"Restored {question.key}."


def _question_initial(question: Question) -> dict:
    version = question.current
    return {
        "question": question.pk,
        "label": version.label,
        "description": version.description,
        "required": version.required,
        "kinds": version.kinds,
        "options": options_to_text(version.options),
        "scale": version.scale,
        "low_label": version.low_label,
        "high_label": version.high_label,
        "max_length": version.max_length,
    }


@login_required
@require_http_methods(["GET", "POST"])
def questions_page(request, slug):
    """The project's custom questions: owners add (typed options or a taxonomy file), edit (a new
    version), reorder, retire and restore them (``question_*`` services); curators read them."""
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    is_owner = role == Role.OWNER
    add_form = QuestionForm(initial={"type": "single_choice", "target": "item"})
    status = 200
    errors: dict[str, list[str]] = {}
    failed, failed_form = None, None
    if request.method == "POST":
        done, action, errors = _owner_action(
            request, project, is_owner=is_owner, noun="questions", actions=QUESTION_ACTIONS,
            run=_question_action, done_url="curation:questions",
        )  # fmt: skip
        if done:
            return done
        status = 400
        if action in ("add", "edit"):
            question_id = request.POST.get("question") if action == "edit" else None
            form = QuestionForm(request.POST, auto_id=f"q{question_id}_%s" if question_id else "id_%s")
            form.is_valid()
            for field, problems in errors.items():
                for problem in problems:
                    if problem not in form.errors.get(field, []):
                        form.add_error(field if field in form.fields else None, problem)
            if action == "add":
                add_form = form
            else:
                failed, failed_form = request.POST.get("question"), form
            errors = {}
        else:
            failed = request.POST.get("question")
    rows = list(
        Question.objects.filter(project=project)
        .select_related("current")
        .annotate(answer_count=Count("answers"))
        .order_by(Case(When(retired_at__isnull=True, then=Value(0)), default=Value(1)), "position", "id")
    )
    for question in rows:
        question.form = (
            failed_form
            if failed_form is not None and str(question.pk) == str(failed)
            else QuestionForm(initial=_question_initial(question), auto_id=f"q{question.pk}_%s")
        )
    context = {
        "project": project,
        "role": role,
        "is_owner": is_owner,
        "in_use": [q for q in rows if q.retired_at is None],
        "retired": [q for q in rows if q.retired_at is not None],
        "add_form": add_form,
        "errors": errors,
        "failed": str(failed or ""),
        "section": "questions",
    }
    return render(request, "curation/questions.html", context, status=status)
