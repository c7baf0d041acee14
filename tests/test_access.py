"""Who may reach which page: a denial matrix per page and persona, CSRF, and
login rate limiting.

Rules (docs/architecture.md, "Access"): every page needs a login (anonymous -> redirect to
the login page); outsiders get 404, never 403, so a project's existence is not
revealed; inside a project a role that may not use a page also gets 404. The
one 403 is a curator posting a change to the members page, which only owners
may change (a curator can see that page, so 404 would hide nothing).

Besides the explicit matrix, ``test_every_page_denies_anonymous_and_outsiders``
walks every URL pattern of the site (admin and the REST API, which have their
own tests, aside), so a page added later is checked too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter, UUIDConverter

from accounts.models import ApiToken
from accounts.services import token_create
from annotate import urls as annotate_urls
from annotate.models import Annotation, Assignment, Item, Membership, Principle, Project, Role
from annotate.services.assignment import annotator_for_user, assignment_next
from curation import urls as curation_urls
from curation.models import Job
from tests.factories import PASSWORD, UserFactory, make_item

pytestmark = pytest.mark.django_db

PERSONAS = ["owner", "curator", "annotator", "researcher", "outsider", "anonymous"]
LOGIN = "LOGIN"  # expected: 302 to the login page


@pytest.fixture
def world(project, personas, settings):
    """Two items; the annotator persona holds a lease on the first; one queued export job."""
    from curation.jobs.services import job_create

    first = make_item(project, "pairwise")
    make_item(project, "thumb")
    lease = assignment_next(project=project, annotator=annotator_for_user(personas["annotator"]), kind="pairwise")
    assert lease.item == first
    job = job_create(project=project, kind="export", params={}, user=personas["owner"], enqueue=False)
    upload = uuid.uuid4().hex
    imported = job_create(project=project, kind="import", params={"upload": upload}, enqueue=False)
    (settings.DOCKET_IMPORT_DIR / upload).mkdir(parents=True)
    (settings.DOCKET_IMPORT_DIR / upload / "rejected.jsonl").write_text('{"line": 1, "field": "", "error": "x"}\n')
    token, _plain = token_create(user=personas["owner"], name="owner's laptop", ttl=timedelta(days=1))
    return {
        "project": project,
        "item": first,
        "lease": lease,
        "job": job,
        "import_job": imported,
        "personas": personas,
        "token": token,
    }


def client_for(personas, who: str, **kwargs) -> Client:
    client = Client(**kwargs)
    if who != "anonymous":
        client.force_login(personas[who])
    return client


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("one.jsonl", b'{"kind": "thumb", "prompt": "Hi?", "responses": ["Hello."]}\n')


# name, method, kwargs builder, POST data builder, expected status per persona.
OWNER_ONLY = {"owner": 200, "curator": 404, "annotator": 404, "researcher": 404, "outsider": 404}
CURATE_ONLY = {"owner": 200, "curator": 200, "annotator": 404, "researcher": 404, "outsider": 404}
ANNOTATE = {"owner": 200, "curator": 200, "annotator": 200, "researcher": 404, "outsider": 404}
ANY_MEMBER = {"owner": 200, "curator": 200, "annotator": 200, "researcher": 200, "outsider": 200}
MEMBERS = {"owner": 200, "curator": 200, "annotator": 200, "researcher": 200, "outsider": 404}
NOBODY = {"owner": 404, "curator": 404, "annotator": 404, "researcher": 404, "outsider": 404}

MATRIX = [
    # Annotator pages (annotate/urls.py).
    ("home", "get", lambda w: {}, None, ANY_MEMBER),
    ("annotate-project", "get", lambda w: {"slug": w["project"].slug}, None, MEMBERS),
    ("annotate-next", "get", lambda w: {"slug": w["project"].slug}, None, ANNOTATE),
    (
        # Only the lease holder may submit on a lease; everyone else gets 404.
        "annotate-submit",
        "post",
        lambda w: {"slug": w["project"].slug, "assignment_uuid": w["lease"].uuid},
        lambda w: {"idempotency_key": str(uuid.uuid4()), "choice": "left", "time_spent_ms": "1200"},
        {"owner": 404, "curator": 404, "annotator": 303, "researcher": 404, "outsider": 404},
    ),
    (
        "annotate-skip",
        "post",
        lambda w: {"slug": w["project"].slug, "assignment_uuid": w["lease"].uuid},
        lambda w: {},
        {"owner": 404, "curator": 404, "annotator": 303, "researcher": 404, "outsider": 404},
    ),
    # Curator pages (curation/urls.py).
    ("curation:projects", "get", lambda w: {}, None, ANY_MEMBER),
    ("curation:overview", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    ("curation:members", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    # Nobody here holds add_project (test_project_setup.py: those who do, and staff, get the page).
    ("curation:project-new", "get", lambda w: {}, None, NOBODY),
    ("curation:project-new", "post", lambda w: {}, lambda w: {"name": "Mine now", "slug": "mine-now"}, NOBODY),
    ("curation:settings", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    (
        "curation:settings",
        "post",
        lambda w: {"slug": w["project"].slug},
        lambda w: {
            "name": "Renamed",
            "kinds": ["pairwise"],
            "overlap": "2",
            "max_overlap": "0",
            "agreement_threshold": "0",
            "probe_rate": "0",
            "lease_seconds": "600",
        },
        {"owner": 302, "curator": 403, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    ("curation:principles", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    (
        "curation:principles",
        "post",
        lambda w: {"slug": w["project"].slug},
        lambda w: {"action": "add", "name": "Brevity", "description": "Short wins."},
        {"owner": 302, "curator": 403, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    ("curation:questions", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    (
        "curation:questions",
        "post",
        lambda w: {"slug": w["project"].slug},
        lambda w: {"action": "add", "key": "note", "type": "text", "label": "A note"},
        {"owner": 302, "curator": 403, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    (
        "curation:guidelines-preview",
        "post",
        lambda w: {"slug": w["project"].slug},
        lambda w: {"guidelines": "**hi**"},
        CURATE_ONLY,
    ),
    (
        "curation:members",
        "post",
        lambda w: {"slug": w["project"].slug},
        lambda w: {"action": "add", "username": UserFactory(username="newcomer").username, "role": "annotator"},
        {"owner": 302, "curator": 403, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    ("curation:invites", "get", lambda w: {"slug": w["project"].slug}, None, OWNER_ONLY),
    ("curation:crowd", "get", lambda w: {"slug": w["project"].slug}, None, OWNER_ONLY),
    (
        "curation:invites",
        "post",
        lambda w: {"slug": w["project"].slug},
        lambda w: {"role": "annotator", "max_uses": "1", "expires_in_days": "7"},
        {"owner": 201, "curator": 404, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    (
        "curation:member-account",
        "post",
        lambda w: {"slug": w["project"].slug, "username": w["personas"]["annotator"].username, "action": "reset-link"},
        lambda w: {},
        {"owner": 201, "curator": 404, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    ("curation:import", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    (
        "curation:import",
        "post",
        lambda w: {"slug": w["project"].slug},
        lambda w: {"file": _upload(), "source_name": "matrix"},
        {"owner": 302, "curator": 302, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    ("curation:items", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    ("curation:activity", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    ("curation:item", "get", lambda w: {"slug": w["project"].slug, "item_uuid": w["item"].uuid}, None, CURATE_ONLY),
    (
        "curation:item-exclude",
        "post",
        lambda w: {"slug": w["project"].slug, "item_uuid": w["item"].uuid},
        lambda w: {"excluded": "1"},
        {"owner": 302, "curator": 302, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    # Job pages (curation/jobs/urls.py): curators only.
    ("jobs:list", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    ("jobs:detail", "get", lambda w: {"slug": w["project"].slug, "job_uuid": w["job"].uuid}, None, CURATE_ONLY),
    (
        "jobs:cancel",
        "post",
        lambda w: {"slug": w["project"].slug, "job_uuid": w["job"].uuid},
        lambda w: {},
        {"owner": 302, "curator": 302, "annotator": 404, "researcher": 404, "outsider": 404},
    ),
    (
        "jobs:import_rejected",
        "get",
        lambda w: {"slug": w["project"].slug, "job_uuid": w["import_job"].uuid},
        None,
        CURATE_ONLY,
    ),
    ("jobs:generate", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
    ("jobs:judge", "get", lambda w: {"slug": w["project"].slug}, None, CURATE_ONLY),
]

ROWS = [pytest.param(*row, id=f"{row[1]}-{row[0]}") for row in MATRIX]


def _snapshot():
    """What a denied request must leave untouched."""
    return (
        sorted(Membership.objects.values_list("user__username", "role")),
        Annotation.objects.count(),
        sorted(Assignment.objects.values_list("uuid", "status")),
        sorted(Item.objects.values_list("uuid", "excluded")),
        sorted(Job.objects.values_list("uuid", "status", "cancel_requested")),
        sorted(Project.objects.values_list("slug", "name", "overlap", "kinds")),
        sorted(Principle.objects.values_list("name", "position", "retired_at")),
    )


@pytest.mark.parametrize(("name", "method", "kwargs", "data", "expected"), ROWS)
def test_denial_matrix(world, name, method, kwargs, data, expected):
    """One page, every persona in turn (fresh client each); all mismatches reported at once."""
    url = reverse(name, kwargs=kwargs(world))
    wrong = []
    for persona in PERSONAS:
        want = expected.get(persona, LOGIN)
        client = client_for(world["personas"], persona)
        before = _snapshot()
        response = client.get(url) if method == "get" else client.post(url, data(world))
        got = response.status_code
        if want == LOGIN:
            location = response.get("Location", "")
            if got != 302 or not location.startswith(reverse("login") + "?next="):
                wrong.append(f"{persona}: {got} {location!r}, expected a redirect to the login page")
        elif got != want:
            wrong.append(f"{persona}: {got}, expected {want}")
        if method == "post" and want not in (200, 201, 302, 303) and _snapshot() != before:
            wrong.append(f"{persona}: a denied POST changed data")
        if got == 404 and world["project"].name.encode() in response.content:
            wrong.append(f"{persona}: the 404 page names the project")
    assert not wrong, f"{method.upper()} {url}: " + "; ".join(wrong)


def test_matrix_covers_every_curator_and_annotator_page():
    """Each named page of the ``curation:`` and ``jobs:`` namespaces (curation/urls.py)
    and of annotate/urls.py has matrix rows (login and logout are public by nature)."""
    covered = {name for name, *_ in MATRIX}
    names = {p.name for p in annotate_urls.urlpatterns if isinstance(p, URLPattern) and p.name}
    for resolver in curation_urls.urlpatterns:
        if isinstance(resolver, URLResolver) and resolver.namespace in ("curation", "jobs"):
            names |= {f"{resolver.namespace}:{p.name}" for p in resolver.url_patterns if p.name}
    assert {n.split(":")[0] for n in names if ":" in n} == {"curation", "jobs"}
    assert names - {"login", "logout"} <= covered, sorted(names - covered - {"login", "logout"})


def test_successful_writes_in_the_matrix_really_happened(world):
    """The allowed POSTs of the matrix do what they say (so a 302/303 is not a silent no-op)."""
    personas = world["personas"]
    project = world["project"]
    owner = client_for(personas, "owner")
    UserFactory(username="newcomer")
    owner.post(
        reverse("curation:members", args=[project.slug]), {"action": "add", "username": "newcomer", "role": "annotator"}
    )
    assert Membership.objects.get(project=project, user__username="newcomer").role == Role.ANNOTATOR
    owner.post(reverse("curation:item-exclude", args=[project.slug, world["item"].uuid]), {"excluded": "1"})
    assert Item.objects.get(pk=world["item"].pk).excluded
    settings_row = next(row for row in MATRIX if row[0] == "curation:settings" and row[1] == "post")
    assert owner.post(reverse("curation:settings", args=[project.slug]), settings_row[3](world)).status_code == 302
    assert Project.objects.get(pk=project.pk).name == "Renamed"
    annotator = client_for(personas, "annotator")
    url = reverse("annotate-submit", args=[project.slug, world["lease"].uuid])
    response = annotator.post(url, {"idempotency_key": str(uuid.uuid4()), "choice": "left"})
    assert response.status_code == 303
    assert Annotation.objects.filter(assignment=world["lease"]).count() == 1


# --- every URL of the site ----------------------------------------------------

SKIP_PREFIXES = ("admin/", "api/", "accounts/", "static/", "media/")


def _site_patterns(patterns=None, prefix="", namespace=""):
    """(route, reversible name, converters) of every URL pattern outside SKIP_PREFIXES."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(SKIP_PREFIXES):
            continue
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _site_patterns(entry.url_patterns, route, ns)
        else:
            yield route, (namespace + entry.name) if entry.name else None, getattr(entry.pattern, "converters", {})


def _fill(converters, world, personas):
    kwargs = {}
    for key, converter in converters.items():
        if key == "slug":
            kwargs[key] = world["project"].slug
        elif key == "item_uuid":
            kwargs[key] = world["item"].uuid
        elif key == "assignment_uuid":
            kwargs[key] = world["lease"].uuid
        elif key == "job_uuid":
            kwargs[key] = world["job"].uuid
        elif key == "token_id":
            kwargs[key] = world["token"].uuid  # the owner's: nobody else may revoke it
        elif isinstance(converter, UUIDConverter):
            kwargs[key] = uuid.uuid4()
        elif isinstance(converter, IntConverter):
            kwargs[key] = 1
        else:
            kwargs[key] = "x"
    return kwargs


PUBLIC = {"invite", "password_reset_confirm", "password_reset_complete", "crowd-join", "crowd-done", "crowd-qualify"}


def test_every_page_denies_anonymous_and_outsiders(world):
    personas = world["personas"]
    anonymous = Client()
    outsider = client_for(personas, "outsider")
    login_url = reverse("login")
    seen = []
    for route, name, converters in _site_patterns():
        assert name, f"URL pattern {route!r} has no name"
        url = reverse(name, kwargs=_fill(converters, world, personas))
        seen.append(name)
        if name in PUBLIC:
            # Open to anyone by nature (an invitation, password reset or crowd link): a made-up
            # token shows a page that says the link does not work, and nothing of any project.
            for client in (anonymous, outsider):
                for method in ("get", "post"):
                    response = getattr(client, method)(url)
                    assert response.status_code in (200, 302, 404, 405), (method, url, response.status_code)
                    assert world["project"].name.encode() not in response.content, url
            continue
        for method in ("get", "post"):
            response = getattr(anonymous, method)(url)
            if response.status_code == 302:
                assert response["Location"].startswith(login_url), (method, url, response["Location"])
            else:
                assert response.status_code == 405, (method, url, response.status_code)
            response = getattr(outsider, method)(url)
            if "slug" in converters or "token_id" in converters:
                assert response.status_code in (404, 405), (method, url, response.status_code)
            else:
                # Pages outside any project (my projects, curate, my API tokens; an empty form post
                # is a 422 with field errors; a new project without the permission to create one,
                # 404): nothing of this project shows.
                assert response.status_code in (200, 302, 303, 404, 405, 422), (method, url, response.status_code)
                assert world["project"].name.encode() not in response.content, url
                assert f"/p/{world['project'].slug}/".encode() not in response.content, url
    assert "curation:overview" in seen and "annotate-next" in seen and "account-token-revoke" in seen
    assert set(seen) >= PUBLIC
    assert ApiToken.objects.filter(pk=world["token"].pk).exists()


# --- CSRF -----------------------------------------------------------------------


def test_csrf_is_enforced_on_posts(world):
    personas = world["personas"]
    project = world["project"]
    UserFactory(username="newcomer")
    client = client_for(personas, "owner", enforce_csrf_checks=True)
    url = reverse("curation:members", args=[project.slug])
    data = {"action": "add", "username": "newcomer", "role": "annotator"}
    assert client.post(url, data).status_code == 403
    assert not Membership.objects.filter(user__username="newcomer").exists()
    exclude = reverse("curation:item-exclude", args=[project.slug, world["item"].uuid])
    assert client.post(exclude, {"excluded": "1"}).status_code == 403
    assert not Item.objects.get(pk=world["item"].pk).excluded
    # With the token from the page, the same POST goes through.
    client.get(url)
    token = client.cookies["csrftoken"].value
    assert client.post(url, {**data, "csrfmiddlewaretoken": token}).status_code == 302
    assert Membership.objects.filter(user__username="newcomer").exists()


def test_csrf_is_enforced_on_annotation_submit(world):
    personas = world["personas"]
    client = client_for(personas, "annotator", enforce_csrf_checks=True)
    url = reverse("annotate-submit", args=[world["project"].slug, world["lease"].uuid])
    response = client.post(url, {"idempotency_key": str(uuid.uuid4()), "choice": "left"})
    assert response.status_code == 403
    assert Annotation.objects.count() == 0
    # htmx sends the token in the X-CSRFToken header (hx-headers on <body>).
    client.get(reverse("annotate-next", args=[world["project"].slug]))
    token = client.cookies["csrftoken"].value
    response = client.post(
        url, {"idempotency_key": str(uuid.uuid4()), "choice": "left"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 303
    assert Annotation.objects.count() == 1


def test_login_form_enforces_csrf():
    UserFactory(username="alice")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert SESSION_KEY not in client.session


# --- login rate limiting (django-axes) -------------------------------------------


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_works_with_the_right_password():
    UserFactory(username="alice")
    client = Client()
    response = _login(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.session[SESSION_KEY]


def test_five_wrong_passwords_lock_the_account_out(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    UserFactory(username="alice")
    client = Client()
    for attempt in range(1, 5):
        response = _login(client, "alice", f"wrong-{attempt}")
        assert response.status_code == 200, attempt  # the form again, with an error
        assert SESSION_KEY not in client.session
    fifth = _login(client, "alice", "wrong-5")
    assert fifth.status_code == 429
    # Now even the right password is refused, with the lock-out page.
    response = _login(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert settings.AXES_LOCKOUT_TEMPLATE in [t.name for t in response.templates]
    assert SESSION_KEY not in client.session
    # From a fresh client (same address) as well: the lock is on username + address.
    other = Client()
    assert _login(other, "alice", PASSWORD).status_code == 429
    assert SESSION_KEY not in other.session


def test_lockout_is_per_username_and_address():
    UserFactory(username="alice")
    UserFactory(username="bob")
    client = Client()
    for attempt in range(5):
        _login(client, "alice", f"wrong-{attempt}")
    assert _login(client, "alice", PASSWORD).status_code == 429
    # Another user from the same address is not locked out ...
    assert _login(Client(), "bob", PASSWORD).status_code == 302
    # ... nor is alice from another address.
    elsewhere = Client(REMOTE_ADDR="203.0.113.7")
    assert _login(elsewhere, "alice", PASSWORD).status_code == 302
