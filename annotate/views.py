"""Annotator pages: my projects, a project's guidelines, and the next-item loop.

The next-item page is one template (``annotate/annotate.html``) with named
partials: ``item`` is what htmx swaps after a submit or a skip, ``progress``
rides along out-of-band so the counter stays right. Without JavaScript the
same forms post normally and get a 303 back to the next-item page.

The HTTP contract (``bench/annotate_load.py`` relies on it): the item partial's
root is ``<section id="item" data-assignment="<uuid>" data-kind="<kind>">``,
every response shown carries ``data-response="<uuid>"``, and the submit form
holds a fresh ``idempotency_key`` per render. When nothing is left the root is
``<section id="item" data-done="true">`` with no ``data-assignment``. The fields
a submit posts are described in ``annotate.forms``.
"""

from __future__ import annotations

import functools
import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from annotate.forms import (
    PAIRWISE_SCREEN_CHOICES,
    PAIRWISE_VERDICTS,
    SINGLE_VERDICTS,
    STRENGTH_CHOICES,
    THUMB_CHOICES,
    SubmitForm,
    question_field,
)
from annotate.models import (
    ANNOTATE_ROLES,
    CURATE_ROLES,
    PROJECT_PAGE_ROLES,
    READ_DATA_ROLES,
    Annotator,
    Assignment,
    Item,
    ItemResponse,
    Kind,
    Membership,
    Principle,
    Project,
    QuestionTarget,
    QuestionType,
    Response,
)
from annotate.selectors import (
    annotator_progress,
    annotator_progress_loop,
    assignment_get_for_submit,
    membership_get_for_annotator,
    principles_in_use,
    progress_count_annotation,
    project_get_for_user,
    questions_in_use,
    user_may_create_projects,
)
from annotate.services.annotations import LeaseLost, annotation_record
from annotate.services.assignment import annotator_for_user, assignment_next, assignment_skip
from config.middleware import retry_safe
from curation.people.services import CROWD_SESSION_KEY, crowd_gate

# Scripts only from our own origin (htmx and docket.js are served from
# static/), so a sanitiser slip in model text still could not run script.
# How far "items left" is counted exactly (see annotator_progress).
PROGRESS_CAP_LOOP = 100
PROGRESS_CAP_HOME = 1000

KEYS = {
    "left": "1",
    "right": "2",
    "tie": "t",
    "both_bad": "b",
    "up": "↑",
    "down": "↓",
}


def _loop_access(request, slug: str):
    """``(project, annotator)`` for the next-item loop: membership, project and annotator in one query."""
    project, _role, annotator = membership_get_for_annotator(request.user, slug, ANNOTATE_ROLES)
    return project, annotator or annotator_for_user(request.user)


def _kind_param(value: str | None) -> str | None:
    return value if value in Kind.values else None


def _annotate_url(project: Project, kind: str | None) -> str:
    url = reverse("annotate-next", args=[project.slug])
    return f"{url}?kind={kind}" if kind else url


# Pages -------------------------------------------------------------------


@require_GET
@login_required
def home(request):
    """My projects: my role, my progress, links to annotate (and curate)."""
    rows = []
    memberships = Membership.objects.filter(user=request.user).select_related("project").order_by("project__name")
    for membership in memberships:
        can_annotate = membership.role in ANNOTATE_ROLES
        progress = None
        if can_annotate:
            progress = annotator_progress(
                project=membership.project, annotator=annotator_for_user(request.user), cap=PROGRESS_CAP_HOME
            )
        rows.append(
            {
                "project": membership.project,
                "role": membership.get_role_display(),
                "can_annotate": can_annotate,
                "can_curate": membership.role in CURATE_ROLES,
                "can_read_data": membership.role in READ_DATA_ROLES,
                "progress": progress,
            }
        )
    context = {"rows": rows, "can_create_project": user_may_create_projects(request.user)}
    return render(request, "annotate/home.html", context)


@require_GET
@login_required
def project_page(request, slug):
    """Guidelines and principles for every member; my progress and a Start button for annotators;
    the ways to the data (API tokens, docs, client) for researchers."""
    project, role = project_get_for_user(request.user, slug, PROJECT_PAGE_ROLES)
    can_annotate = role in ANNOTATE_ROLES
    progress, kinds = None, []
    if can_annotate:
        progress = annotator_progress(project=project, annotator=annotator_for_user(request.user), by_kind=True)
        kinds = [
            {"value": kind, "label": Kind(kind).label, "left": progress.left_by_kind.get(kind, 0)}
            for kind in Kind.values
            if kind in (project.kinds or Kind.values)
        ]
    return render(
        request,
        "annotate/project.html",
        {
            "project": project,
            "principles": principles_in_use(project),
            "progress": progress,
            "kinds": kinds,
            "can_annotate": can_annotate,
            "can_curate": role in CURATE_ROLES,
            "can_read_data": role in READ_DATA_ROLES,
        },
    )


@require_GET
@login_required
def annotate_next(request, slug):
    """The next item (or the lease I already hold, e.g. after a reload)."""
    project, annotator = _loop_access(request, slug)
    kind = _kind_param(request.GET.get("kind"))
    if finished := _crowd_finished(request, project, queue_empty=False):
        return finished
    assignment = assignment_next(project=project, annotator=annotator, kind=kind)
    if assignment is None and (finished := _crowd_finished(request, project, queue_empty=True)):
        return finished
    context = _item_context(request, project, annotator, assignment, kind=kind)
    if request.htmx:
        return _render_partial(request, context)
    return render(request, "annotate/annotate.html", context)


@retry_safe
@require_POST
@login_required
def annotate_submit(request, slug, assignment_uuid):
    project, annotator, assignment = _assignment_or_404(request, slug, assignment_uuid)
    kind = _kind_param(request.POST.get("next_kind"))
    principles = principles_in_use(project)  # prefetched by assignment_get_for_submit
    questions = questions_in_use(project)  # likewise
    form = SubmitForm(request.POST, assignment=assignment, principles=principles, questions=questions)
    message, stored = None, None
    if form.is_valid():
        try:
            annotation, created = annotation_record(
                assignment=assignment,
                annotator=annotator,
                data=form.to_input(),
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except LeaseLost as exc:
            message = (messages.WARNING, f"{exc} Your answer was not stored; here is the next item.")
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                form.add_service_errors(exc)
            else:
                message = (messages.WARNING, f"{' '.join(exc.messages)} Your answer was not stored.")
        else:
            message = (messages.SUCCESS, "Saved." if created else "Already saved.")
            stored = annotation if created else None
    if form.errors:
        context = _item_context(request, project, annotator, assignment, kind=kind, form=form)
        if request.htmx:
            return _render_partial(request, context, status=422)
        return render(request, "annotate/annotate.html", context, status=422)
    return _next_item(
        request,
        project,
        annotator,
        kind,
        message,
        principles=principles,
        questions=questions,
        after=assignment.item_id,
        stored=stored,
    )


@retry_safe
@require_POST
@login_required
def annotate_skip(request, slug, assignment_uuid):
    """Give the item back to the pool for others; I never get it again."""
    project, annotator, assignment = _assignment_or_404(request, slug, assignment_uuid)
    kind = _kind_param(request.POST.get("next_kind"))
    if assignment_skip(assignment=assignment, annotator=annotator):
        message = (messages.INFO, "Skipped. The item goes back to the pool for others.")
    else:
        message = (messages.INFO, "That item was already finished.")
    return _next_item(request, project, annotator, kind, message, after=assignment.item_id)


# Helpers -----------------------------------------------------------------


def _assignment_or_404(request, slug: str, assignment_uuid) -> tuple[Project, Annotator, Assignment]:
    """``(project, annotator, assignment)`` for a submit or skip, in one query, or 404."""
    return assignment_get_for_submit(request.user, slug, assignment_uuid)


def _next_item(request, project, annotator, kind, message, principles=None, questions=None, after=None, stored=None):
    """The next item's partial (htmx) or a redirect to its page; ``stored``: the annotation just stored, if any.

    A stored annotation is counted on the loop's cached counters
    (``annotate.selectors``), with the read of them for the partial in one round trip.
    """
    if not request.htmx:
        if stored is not None:
            progress_count_annotation(
                project_id=project.pk, annotator_id=annotator.pk, time_spent_ms=stored.time_spent_ms
            )
        if message:
            messages.add_message(request, *message)
        return _see_other(project, kind)
    if finished := _crowd_finished(request, project, queue_empty=False):
        return finished
    # The claim looks past the item just finished first (see assignment_next).
    assignment = assignment_next(project=project, annotator=annotator, kind=kind, after=after)
    if assignment is None and (finished := _crowd_finished(request, project, queue_empty=True)):
        return finished
    context = _item_context(
        request,
        project,
        annotator,
        assignment,
        kind=kind,
        message=message,
        principles=principles,
        questions=questions,
        stored=stored,
    )
    return _render_partial(request, context)


def _crowd_finished(request, project, *, queue_empty: bool):
    """A crowd participant who must qualify first, or is done, goes there
    (``curation.people.services.crowd_gate``); ``None`` for everyone else, at the cost of
    a session lookup (only a crowd participant's session carries the key)."""
    if request.session.get(CROWD_SESSION_KEY) != project.slug:
        return None
    gate = crowd_gate(user=request.user, project=project, queue_empty=queue_empty)
    if gate is None:
        return None
    where, participant = gate
    url = reverse(f"crowd-{where}", args=[participant.link.token])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def _see_other(project, kind):
    """303 See Other: the browser GETs the next-item page after a plain POST."""
    response = HttpResponse(status=303)
    response["Location"] = _annotate_url(project, kind)
    return response


def _render_partial(request, context, status=200):
    html = render_to_string("annotate/annotate.html#item", context, request=request)
    html += render_to_string("annotate/annotate.html#progress", {**context, "oob": True}, request=request)
    return HttpResponse(html, status=status)


def _options(choices, selected, keys=None):
    return [
        {"value": value, "label": label, "checked": value == selected, "key": (keys or {}).get(value, "")}
        for value, label in choices
    ]


def _item_context(
    request,
    project,
    annotator,
    assignment,
    *,
    kind=None,
    form=None,
    message=None,
    principles=None,
    questions=None,
    stored=None,
) -> dict:
    if form is not None:
        principles, questions = form.principles, form.all_questions
    elif principles is None:
        principles = principles_in_use(project)
    if questions is None and assignment is not None:
        questions = questions_in_use(project)
    progress = annotator_progress_loop(project=project, annotator=annotator, cap=PROGRESS_CAP_LOOP, stored=stored)
    context = {
        "project": project,
        "progress": progress,
        "kind_filter": kind,
        "kind_label": Kind(kind).label if kind else "",
        "assignment": assignment,
        "message": message and {"level": messages.DEFAULT_TAGS.get(message[0], "info"), "text": message[1]},
        "guidelines": project.guidelines,
        "principles": principles,
    }
    if assignment is None:
        return context

    if Assignment.item.is_cached(assignment) and "links" in getattr(assignment.item, "_prefetched_objects_cache", {}):
        # A fresh lease from the claim statement carries its prompt and responses.
        item = assignment.item
        links = sorted(item.links.all(), key=lambda link: link.position)
    else:
        # One query for the responses, the item and its prompt (the lease may hold a partly loaded item).
        links = list(
            ItemResponse.objects.filter(item_id=assignment.item_id)
            .select_related("response", "item__prompt")
            .order_by("position")
        )
        item = links[0].item if links else Item.objects.select_related("prompt").get(pk=assignment.item_id)
    posted = form.data if form is not None else {}
    by_uuid: dict[str, Response] = {str(link.response.uuid): link.response for link in links}
    canonical = [str(link.response.uuid) for link in links]
    screen = [u for u in (assignment.display_order or canonical) if u in by_uuid]
    sides = ["left", "right"]
    panes = []
    for index, response_uuid in enumerate(screen):
        panes.append(
            {
                "response": by_uuid[response_uuid],
                "index": index + 1,
                "label": "AB"[index] if item.kind == Kind.PAIRWISE else str(index + 1),
                "side": sides[index] if item.kind == Kind.PAIRWISE and index < 2 else "",
                "rank": posted.get(f"rank_{response_uuid}", "") if posted else "",
            }
        )
    idempotency_key = uuid.uuid4()
    if form is not None and form.cleaned_data.get("idempotency_key"):
        # Same submission retried after a fix: keep the key so it stays idempotent.
        idempotency_key = form.cleaned_data["idempotency_key"]
    context.update(
        {
            "item": item,
            "conversation": item.prompt.messages,
            "panes": panes,
            "form": form,
            "errors": form.errors if form is not None else {},
            "non_field_errors": form.non_field_errors() if form is not None else [],
            "posted": posted,
            "idempotency_key": idempotency_key,
            "submit_url": reverse("annotate-submit", args=[project.slug, assignment.uuid]),
            "skip_url": reverse("annotate-skip", args=[project.slug, assignment.uuid]),
            "single_response": item.kind in (Kind.THUMB, Kind.JUDGMENT),
        }
    )
    asked = [q for q in questions if item.kind in q.current.kinds]
    pane_labels = tuple("" if item.kind in (Kind.THUMB, Kind.JUDGMENT) else pane["label"] for pane in panes)
    if form is None:
        context["controls"] = _controls_html(
            item.kind,
            tuple(
                (p.pk, p.name, p.description, json.dumps(p.guidance or []), p.current_version_id) for p in principles
            ),
            tuple((q.pk, q.current_id, q) for q in asked),
            pane_labels if any(q.target == QuestionTarget.RESPONSE for q in asked) else (),
        )
    else:
        context.update(_controls_context(item.kind, principles, form, questions=asked, pane_labels=pane_labels))
    context["has_questions"] = bool(asked)
    return context


# Keys of a question's options: digits for single choice and ratings, letters for labels ("q" moves between
# questions, so it is left out).
DIGIT_KEYS = "1234567890"
LABEL_KEYS = "abcdefghijklmnoprstuvwxyz"


def _question_blocks(questions, pane_labels, posted, errors) -> list[dict]:
    """What the ``questions`` partial shows: per question, one block (about the item) or one per
    response shown, with its options (keys on screen), the posted values and its errors."""
    out = []
    for question in questions:
        version = question.current
        if question.target == QuestionTarget.ITEM:
            targets = [(question_field(question), "")]
        else:
            targets = [(question_field(question, n), label) for n, label in enumerate(pane_labels, start=1)]
        stops = []
        for name, about in targets:
            if question.type == QuestionType.MULTI_LABEL:
                chosen = set(posted.getlist(name) if hasattr(posted, "getlist") else posted.get(name) or [])
            else:
                chosen = {posted.get(name)} if posted.get(name) else set()
            if question.type == QuestionType.RATING:
                values = [(str(n), str(n), "") for n in range(1, version.scale + 1)]
            else:
                values = [(o["value"], o["label"], o["description"]) for o in version.options]
            keys = LABEL_KEYS if question.type == QuestionType.MULTI_LABEL else DIGIT_KEYS
            options = [
                {
                    "value": value,
                    "label": label,
                    "description": description,
                    "key": keys[n] if n < len(keys) else "",
                    "checked": value in chosen,
                    "sub": bool(question.type != QuestionType.RATING and version.options[n].get("parent")),
                }
                for n, (value, label, description) in enumerate(values)
            ]
            stops.append(
                {
                    "field": name,
                    "about": about,
                    "options": options,
                    "text": posted.get(name, "") if question.type == QuestionType.TEXT else "",
                    "errors": errors.get(name) if errors else None,
                }
            )
        out.append({"question": question, "version": version, "stops": stops})
    return out


def _controls_context(kind: str, principles, form=None, *, questions=(), pane_labels=()) -> dict:
    """What the ``controls`` partial shows: the kind's answer options, one verdict row per principle,
    the custom questions asked on this kind."""
    posted = form.data if form is not None else {}
    verdict_choices = PAIRWISE_VERDICTS if kind == Kind.PAIRWISE else SINGLE_VERDICTS
    return {
        "question_blocks": _question_blocks(questions, pane_labels, posted, form.errors if form is not None else {}),
        "errors": form.errors if form is not None else {},
        "posted": posted,
        "pairwise_choices": _options(PAIRWISE_SCREEN_CHOICES, posted.get("choice"), KEYS),
        "thumb_choices": _options(THUMB_CHOICES, posted.get("choice"), KEYS),
        "strength_choices": _options(STRENGTH_CHOICES, posted.get("strength"), {"1": "⇧1", "2": "⇧2", "3": "⇧3"}),
        "verdict_rows": [
            {
                "principle": principle,
                "field": f"verdict_{principle.pk}",
                "options": _options(verdict_choices, posted.get(f"verdict_{principle.pk}")),
                "errors": form.errors.get(f"verdict_{principle.pk}") if form is not None else None,
            }
            for principle in principles
        ],
    }


@functools.lru_cache(maxsize=256)
def _controls_html(
    kind: str,
    principles: tuple[tuple[int, str, str, str, int | None], ...],
    questions: tuple = (),
    pane_labels: tuple[str, ...] = (),
) -> str:
    """The ``controls`` partial of a fresh item (nothing posted), rendered once per kind, set of
    principles, set of questions (``(pk, version id, question)``: a new version is a new key) and
    labels of the responses shown (only when a question is asked about each response).

    It holds nothing of the request, the annotator or the item beyond its
    kind and responses' labels (no token, no URL), so every annotator of a
    project shares it; a changed principle (a new version: name, description, guidance) is a new key.
    """
    rows = [
        Principle(pk=pk, name=name, description=description, guidance=json.loads(guidance), current_version_id=vid)
        for pk, name, description, guidance, vid in principles
    ]
    asked = [question for _pk, _version, question in questions]
    context = _controls_context(kind, rows, questions=asked, pane_labels=pane_labels)
    return render_to_string("annotate/annotate.html#controls", {**context, "item": {"kind": kind}})
