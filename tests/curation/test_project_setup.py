"""Creating projects and changing their settings: the services' rules
(field errors, nothing half-written), the activity they log, and the pages
``/projects/new/`` and ``/p/<slug>/curate/settings/`` (with the guidelines'
live preview). Per-role denial is in ``tests/test_access.py``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotate.models import Membership, Principle, Project, Role
from curation.models import Activity
from curation.projects.services import project_create, project_update
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def creator(username="maker"):
    user = UserFactory(username=username)
    user.user_permissions.add(Permission.objects.get(codename="add_project", content_type__app_label="annotate"))
    return user


def log_of(project):
    return [(e.verb, e.actor_name, e.changes) for e in Activity.objects.filter(project=project).order_by("id")]


# --- services ---------------------------------------------------------------------


def test_create_makes_the_creator_owner_and_logs_every_step(db):
    user = creator()
    project = project_create(
        slug="helpfulness",
        name="Helpfulness",
        description="Which answer helps more?",
        user=user,
        guidelines="# Be kind",
        overlap=2,
        principles=[("Honest", "No made-up facts."), ("Concise", "")],
    )
    assert Membership.objects.get(project=project).role == Role.OWNER
    assert Membership.objects.get(project=project).user == user and project.created_by == user
    assert [(p.name, p.position) for p in Principle.objects.filter(project=project)] == [
        ("Honest", 0),
        ("Concise", 1),
    ]
    verbs = [verb for verb, _, _ in log_of(project)]
    assert verbs == ["project.create", "member.add", "principle.add", "principle.add"]
    created = log_of(project)[0][2]
    assert created["slug"] == [None, "helpfulness"] and created["overlap"] == [None, 2]
    assert created["guidelines"] == [None, "# Be kind"]
    assert {actor for _, actor, _ in log_of(project)} == {"maker"}


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"slug": "Not a slug!"}, "slug"),
        ({"slug": ""}, "slug"),
        ({"name": ""}, "name"),
        ({"overlap": 0}, "overlap"),
        ({"probe_rate": 0.9}, "probe_rate"),
        ({"kinds": []}, "kinds"),
        ({"kinds": ["pairwise", "essay"]}, "kinds"),
        ({"lease_seconds": 5}, "lease_seconds"),
        ({"overlap": 3, "max_overlap": 2, "agreement_threshold": 0.5}, "max_overlap"),
        ({"overlap": 2, "max_overlap": 3}, "agreement_threshold"),
        ({"agreement_threshold": 1.5}, "agreement_threshold"),
        ({"principles": [("", "nameless")]}, "principles"),
        ({"principles": [("Honest", ""), ("honest", "again")]}, "principles"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_create_refuses_bad_fields_and_writes_nothing(db, fields, bad):
    data = {"slug": "ok-slug", "name": "OK", **fields}
    with pytest.raises(ValidationError) as raised:
        project_create(user=creator(), **data)
    assert bad in raised.value.message_dict
    assert not Project.objects.exists() and not Activity.objects.exists() and not Membership.objects.exists()


def test_create_refuses_a_taken_slug(db):
    project_create(slug="taken", name="First", user=creator())
    with pytest.raises(ValidationError) as raised:
        project_create(slug="taken", name="Second", user=creator("other"))
    assert "slug" in raised.value.message_dict
    assert Project.objects.count() == 1


def test_update_logs_before_and_after_of_changed_fields_only(project, personas):
    owner = personas["owner"]
    before_overlap, before_rate = project.overlap, project.probe_rate
    project_update(
        project=project,
        user=owner,
        overlap=2,
        max_overlap=3,
        agreement_threshold=0.7,
        probe_rate=0.1,
        name=project.name,  # unchanged: not logged
    )
    project.refresh_from_db()
    assert (project.overlap, project.max_overlap, project.agreement_threshold, project.probe_rate) == (2, 3, 0.7, 0.1)
    [(verb, actor, changes)] = log_of(project)
    assert (verb, actor) == ("project.update", owner.username)
    assert changes == {
        **({"overlap": [before_overlap, 2]} if before_overlap != 2 else {}),
        "max_overlap": [0, 3],
        "agreement_threshold": [0.0, 0.7],
        "probe_rate": [before_rate, 0.1],
    }
    project_update(project=project, user=owner, overlap=2)
    assert len(log_of(project)) == 1  # nothing changed, nothing logged


def test_update_refuses_all_when_one_field_is_bad(project, personas):
    old = Project.objects.get(pk=project.pk)
    with pytest.raises(ValidationError) as raised:
        project_update(project=project, user=personas["owner"], guidelines="new", overlap=0, probe_rate=-1)
    assert set(raised.value.message_dict) == {"overlap", "probe_rate"}
    fresh = Project.objects.get(pk=project.pk)
    assert (fresh.guidelines, fresh.overlap, fresh.probe_rate) == (old.guidelines, old.overlap, old.probe_rate)
    assert log_of(project) == []
    with pytest.raises(ValidationError) as raised:
        project_update(project=project, user=personas["owner"], slug="renamed")
    assert "slug" in raised.value.message_dict


def test_kinds_are_stored_in_one_order(project, personas):
    project_update(project=project, user=personas["owner"], kinds=["thumb", "pairwise"])
    project.refresh_from_db()
    assert project.kinds == ["pairwise", "thumb"]


# --- pages ------------------------------------------------------------------------


def test_new_project_page_creates_and_redirects_to_settings(client):
    user = creator()
    client.force_login(user)
    url = reverse("curation:project-new")
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Tone", "slug": "tone", "description": "Polite or not"})
    assert response.status_code == 302
    assert response["Location"] == reverse("curation:settings", kwargs={"slug": "tone"})
    project = Project.objects.get(slug="tone")
    assert project.role_of(user) == Role.OWNER


def test_new_project_page_shows_field_errors(client):
    project_create(slug="tone", name="Tone", user=creator("first"))
    client.force_login(creator())
    response = client.post(reverse("curation:project-new"), {"name": "", "slug": "tone"})
    assert response.status_code == 400
    form = response.context["form"]
    assert "name" in form.errors
    html = response.content.decode()
    assert 'id="id_name-errors"' in html
    response = client.post(reverse("curation:project-new"), {"name": "Again", "slug": "tone"})
    assert response.status_code == 400 and "slug" in response.context["form"].errors
    assert Project.objects.count() == 1


def test_staff_may_create_and_others_get_404(client):
    staff = UserFactory(username="staffer", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("curation:project-new")).status_code == 200
    client.force_login(UserFactory(username="plain"))
    assert client.get(reverse("curation:project-new")).status_code == 404
    assert client.post(reverse("curation:project-new"), {"name": "X", "slug": "x"}).status_code == 404
    assert not Project.objects.exists()


def test_home_shows_new_project_link_only_to_those_allowed(client):
    client.force_login(creator())
    assert reverse("curation:project-new") in client.get(reverse("home")).content.decode()
    client.force_login(UserFactory(username="plain"))
    assert reverse("curation:project-new") not in client.get(reverse("home")).content.decode()


def _settings_post(project, **overrides):
    data = {
        "name": project.name,
        "description": project.description,
        "guidelines": project.guidelines,
        "kinds": project.kinds,
        "overlap": project.overlap,
        "max_overlap": project.max_overlap,
        "agreement_threshold": project.agreement_threshold,
        "probe_rate": project.probe_rate,
        "lease_seconds": project.lease_seconds,
        "model_name": project.model_name,
    }
    if project.randomize_order:
        data["randomize_order"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_settings_page_saves_and_logs(client, project, personas):
    client.force_login(personas["owner"])
    url = reverse("curation:settings", kwargs={"slug": project.slug})
    page = client.get(url)
    assert page.status_code == 200 and 'hx-post="' in page.content.decode()
    response = client.post(url, _settings_post(project, overlap=2, max_overlap=3, agreement_threshold=0.6))
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.overlap, project.max_overlap, project.agreement_threshold) == (2, 3, 0.6)
    [(verb, actor, changes)] = log_of(project)
    assert verb == "project.update" and changes["max_overlap"] == [0, 3]


def test_settings_page_unticked_box_turns_randomised_order_off(client, project, personas):
    client.force_login(personas["owner"])
    url = reverse("curation:settings", kwargs={"slug": project.slug})
    data = _settings_post(project)
    data.pop("randomize_order", None)
    assert client.post(url, data).status_code == 302
    project.refresh_from_db()
    assert project.randomize_order is False
    assert log_of(project)[0][2] == {"randomize_order": [True, False]}


def test_settings_page_shows_field_errors_and_writes_nothing(client, project, personas):
    client.force_login(personas["owner"])
    url = reverse("curation:settings", kwargs={"slug": project.slug})
    response = client.post(url, _settings_post(project, overlap=3, max_overlap=2, probe_rate="lots", kinds=[]))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"probe_rate", "kinds"} <= set(errors)
    response = client.post(url, _settings_post(project, overlap=3, max_overlap=2, agreement_threshold=0.5))
    assert response.status_code == 400
    assert "max_overlap" in response.context["form"].errors
    assert 'data-field="max_overlap"' in response.content.decode()
    assert log_of(project) == []


def test_settings_read_only_for_curators(client, project, personas):
    client.force_login(personas["curator"])
    url = reverse("curation:settings", kwargs={"slug": project.slug})
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Save settings" not in html and "disabled" in html
    assert client.post(url, _settings_post(project, overlap=5)).status_code == 403
    project.refresh_from_db()
    assert project.overlap != 5


def test_guidelines_preview_renders_sanitised_markdown(client, project, personas):
    client.force_login(personas["owner"])
    url = reverse("curation:guidelines-preview", kwargs={"slug": project.slug})
    response = client.post(
        url, {"guidelines": "# Rules\n\n**Be kind** <script>alert(1)</script> [x](javascript:alert(1))"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Rules</h1>" in html and "<strong>Be kind</strong>" in html
    assert "<script" not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html
    empty = client.post(url, {"guidelines": ""})
    assert "No guidelines yet" in empty.content.decode()
