"""Setting up a project through the API: ``POST /projects/``, ``PATCH
/projects/<slug>/``, principles and members; the one error shape with field
names; per-role denial (owners write; other readers 403; annotators,
outsiders 404; anonymous 401). Also ``manage.py create_project``, the same
service from the command line."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotate.models import Membership, Principle, Project, Role
from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
from curation.models import Activity
from curation.projects.services import principle_add
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.django_db

READERS_OTHER_THAN_OWNER = ("curator", "researcher")


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def may_create(user):
    user.user_permissions.add(Permission.objects.get(codename="add_project", content_type__app_label="annotate"))
    return user


def test_create_project_makes_caller_owner(db):
    user = may_create(UserFactory(username="lab-lead"))
    body = {
        "slug": "tone",
        "name": "Tone",
        "guidelines": "# Be polite",
        "overlap": 2,
        "max_overlap": 3,
        "agreement_threshold": 0.6,
        "probe_rate": 0.1,
        "principles": [{"name": "Polite", "description": "No insults."}, {"name": "Brief"}],
    }
    response = api(user).post("/api/v1/projects/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert response["Location"].endswith("/api/v1/projects/tone/")
    assert (data["slug"], data["role"], data["overlap"], data["max_overlap"]) == ("tone", "owner", 2, 3)
    assert data["principles"] == ["Polite", "Brief"] and data["probe_rate"] == 0.1
    assert Project.objects.get(slug="tone").role_of(user) == Role.OWNER
    assert Activity.objects.filter(project__slug="tone", verb="project.create").count() == 1


def test_create_project_errors_name_the_field(db):
    user = may_create(UserFactory(username="lab-lead"))
    client = api(user)
    cases = [
        ({"slug": "a b", "name": "X"}, "slug"),
        ({"slug": "x", "name": "X", "overlap": 0}, "overlap"),
        ({"slug": "x", "name": "X", "overlap": 3, "max_overlap": 2, "agreement_threshold": 0.5}, "max_overlap"),
        ({"slug": "x", "name": "X", "kinds": ["essay"]}, "kinds"),
        ({"slug": "x", "name": "X", "principles": [{"name": "A"}, {"name": "a"}]}, "principles"),
        ({"slug": "x", "name": "X", "colour": "blue"}, "colour"),
        ({"name": "X"}, "slug"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/projects/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid" and field in error["fields"], (body, error)
    assert not Project.objects.exists()


def test_create_project_denied_without_permission(db, personas):
    for who in ("owner", "curator", "annotator", "researcher", "outsider"):
        response = api(personas[who]).post("/api/v1/projects/", {"slug": "mine", "name": "Mine"}, format="json")
        assert response.status_code == 403, who
        assert response.json()["error"]["status"] == 403
    assert api().post("/api/v1/projects/", {"slug": "mine", "name": "Mine"}, format="json").status_code == 401
    staff = UserFactory(username="staffer", is_staff=True)
    assert api(staff).post("/api/v1/projects/", {"slug": "mine", "name": "Mine"}, format="json").status_code == 201
    assert list(Project.objects.filter(slug="mine").values_list("slug", flat=True)) == ["mine"]


def test_patch_project_settings(project, personas):
    url = f"/api/v1/projects/{project.slug}/"
    response = api(personas["owner"]).patch(url, {"overlap": 2, "max_overlap": 3, "agreement_threshold": 0.5})
    assert response.status_code == 200, response.content
    assert (response.json()["overlap"], response.json()["max_overlap"]) == (2, 3)
    entry = Activity.objects.get(project=project, verb="project.update")
    assert entry.changes["max_overlap"] == [0, 3] and entry.actor_name == personas["owner"].username
    bad = api(personas["owner"]).patch(url, {"probe_rate": 0.9, "lease_seconds": 1}, format="json")
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"probe_rate", "lease_seconds"}
    renamed = api(personas["owner"]).patch(url, {"slug": "other"}, format="json")
    assert renamed.status_code == 400 and "slug" in renamed.json()["error"]["fields"]


def test_patch_project_denied_per_role(project, personas):
    url = f"/api/v1/projects/{project.slug}/"
    expected = {"curator": 403, "researcher": 403, "annotator": 404, "outsider": 404}
    for who, code in expected.items():
        assert api(personas[who]).patch(url, {"overlap": 5}, format="json").status_code == code, who
    assert api().patch(url, {"overlap": 5}, format="json").status_code == 401
    project.refresh_from_db()
    assert project.overlap != 5


def test_principles_endpoints(project, personas):
    owner = api(personas["owner"])
    base = f"/api/v1/projects/{project.slug}/principles/"
    ids = []
    for name in ("Honest", "Kind", "Brief"):
        response = owner.post(base, {"name": name, "description": f"{name}."}, format="json")
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    assert owner.post(base, {"name": "honest"}, format="json").json()["error"]["fields"].keys() == {"name"}
    response = owner.patch(f"{base}{ids[1]}/", {"name": "Kind to people"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Kind to people"
    response = owner.post(f"{base}order/", {"order": [ids[2], ids[0], ids[1]]}, format="json")
    assert [p["name"] for p in response.json()] == ["Brief", "Honest", "Kind to people"]
    assert owner.post(f"{base}order/", {"order": [ids[0]]}, format="json").status_code == 400
    response = owner.post(f"{base}{ids[0]}/retire/", {}, format="json")
    assert response.status_code == 200 and response.json()["retired"] is True
    listed = api(personas["researcher"]).get(base).json()
    assert [(p["name"], p["retired"]) for p in listed] == [
        ("Brief", False),
        ("Kind to people", False),
        ("Honest", True),
    ]
    assert api(personas["researcher"]).get(f"/api/v1/projects/{project.slug}/").json()["principles"] == [
        "Brief",
        "Kind to people",
    ]
    restored = owner.post(f"{base}{ids[0]}/retire/", {"retired": False}, format="json")
    assert restored.status_code == 200 and restored.json()["retired"] is False
    assert owner.patch(f"{base}999999/", {"name": "x"}, format="json").status_code == 404
    verbs = list(Activity.objects.filter(project=project).order_by("id").values_list("verb", flat=True))
    assert verbs.count("principle.add") == 3 and "principle.retire" in verbs and "principle.reorder" in verbs


def test_principle_versions_and_guidance_in_the_api(project, personas):
    """Issue 19, points 2 and 5: guidance is written and read; every change of wording is a
    version the API lists (newest first) with the verdicts under it; an annotation says
    which version each of its verdicts was given under."""
    owner = api(personas["owner"])
    base = f"/api/v1/projects/{project.slug}/principles/"
    guidance = [{"kind": "counts", "text": "Counts when it gives steps to hurt someone."}]
    created = owner.post(base, {"name": "Harmless", "guidance": guidance}, format="json").json()
    assert (created["version"], created["guidance"]) == (1, guidance)
    bad = owner.patch(f"{base}{created['id']}/", {"guidance": [{"kind": "rule", "text": "x"}]}, format="json")
    assert bad.status_code == 400 and "guidance" in bad.json()["error"]["fields"]
    principle = Principle.objects.get(pk=created["id"])
    item = make_item(project, "pairwise")
    recorded = annotation_record(
        item=item,
        annotator=annotator_for_model(name="external", model_name="m"),
        data=AnnotationInput(choice="A", verdicts={principle.pk: "A"}),
    )
    updated = owner.patch(f"{base}{created['id']}/", {"description": "No harm."}, format="json").json()
    assert updated["version"] == 2 and updated["guidance"] == guidance
    assert [(v["number"], v["description"], v["verdict_count"], v["created_by"]) for v in updated["versions"]] == [
        (2, "No harm.", 0, personas["owner"].username),
        (1, "", 1, personas["owner"].username),
    ]
    listed = api(personas["researcher"]).get(base).json()
    assert listed[0]["versions"][1]["guidance"] == guidance
    annotations = api(personas["researcher"]).get(f"/api/v1/projects/{project.slug}/annotations/").json()
    (row,) = [a for a in annotations["results"] if a["id"] == str(recorded.annotation.uuid)]
    assert row["verdicts"] == {"Harmless": "A"} and row["verdict_versions"] == {"Harmless": 1}


def test_principles_endpoints_denied_per_role(project, personas):
    principle = principle_add(project=project, name="Honest", user=None)
    base = f"/api/v1/projects/{project.slug}/principles/"
    writes = [
        ("post", base, {"name": "Sneaky"}),
        ("patch", f"{base}{principle.pk}/", {"name": "Renamed"}),
        ("post", f"{base}{principle.pk}/retire/", {}),
        ("post", f"{base}order/", {"order": [principle.pk]}),
    ]
    for who in ("curator", "researcher", "annotator", "outsider", None):
        client = api(personas[who] if who else None)
        want = {"curator": 403, "researcher": 403, None: 401}.get(who, 404)
        for method, url, body in writes:
            assert getattr(client, method)(url, body, format="json").status_code == want, (who, method, url)
        read = client.get(base).status_code
        assert read == {"curator": 200, "researcher": 200, None: 401}.get(who, 404), (who, read)
    assert list(Principle.objects.filter(project=project).values_list("name", "retired_at")) == [("Honest", None)]


def test_members_endpoints(project, personas):
    owner = api(personas["owner"])
    base = f"/api/v1/projects/{project.slug}/members/"
    listed = owner.get(base).json()
    assert {m["username"]: m["role"] for m in listed} == {
        personas[r].username: r for r in ("owner", "curator", "annotator", "researcher")
    }
    UserFactory(username="newcomer")
    response = owner.post(base, {"username": "newcomer", "role": "annotator"}, format="json")
    assert response.status_code == 201 and response.json()["role"] == "annotator"
    assert owner.post(base, {"username": "ghost", "role": "annotator"}, format="json").json()["error"][
        "fields"
    ].keys() == {"username"}
    assert owner.patch(f"{base}newcomer/", {"role": "curator"}, format="json").json()["role"] == "curator"
    assert owner.patch(f"{base}newcomer/", {"role": "king"}, format="json").status_code == 400
    last_owner = owner.patch(f"{base}{personas['owner'].username}/", {"role": "curator"}, format="json")
    assert last_owner.status_code == 400 and "role" in last_owner.json()["error"]["fields"]
    assert owner.delete(f"{base}newcomer/").status_code == 204
    assert owner.delete(f"{base}newcomer/").status_code == 404
    verbs = list(Activity.objects.filter(project=project).order_by("id").values_list("verb", flat=True))
    assert verbs == ["member.add", "member.role", "member.remove"]


def test_members_endpoints_denied_per_role(project, personas):
    UserFactory(username="newcomer")
    base = f"/api/v1/projects/{project.slug}/members/"
    target = f"{base}{personas['annotator'].username}/"
    for who in ("curator", "researcher", "annotator", "outsider", None):
        client = api(personas[who] if who else None)
        want = {"curator": 403, None: 401}.get(who, 404)
        assert client.post(base, {"username": "newcomer", "role": "owner"}, format="json").status_code == want, who
        assert client.patch(target, {"role": "owner"}, format="json").status_code == want, who
        assert client.delete(target).status_code == want, who
        assert client.get(base).status_code == {"curator": 200, None: 401}.get(who, 404), who
    assert not Membership.objects.filter(user__username="newcomer").exists()
    assert Membership.objects.get(user=personas["annotator"], project=project).role == Role.ANNOTATOR


# --- manage.py create_project -----------------------------------------------------


def test_create_project_command(tmp_path, capsys):
    owner = UserFactory(username="pi")
    guidelines = tmp_path / "guidelines.md"
    guidelines.write_text("# Guidelines\n\nPick the kinder answer.\n", encoding="utf-8")
    call_command(
        "create_project",
        "kindness",
        "--name",
        "Kindness",
        "--description",
        "Which is kinder?",
        "--guidelines",
        str(guidelines),
        "--principle",
        "Kind: no insults",
        "--principle",
        "Brief",
        "--overlap",
        "2",
        "--owner",
        "pi",
    )
    project = Project.objects.get(slug="kindness")
    assert (project.name, project.overlap, project.guidelines.startswith("# Guidelines")) == ("Kindness", 2, True)
    assert [(p.name, p.description) for p in Principle.objects.filter(project=project)] == [
        ("Kind", "no insults"),
        ("Brief", ""),
    ]
    assert project.role_of(owner) == Role.OWNER
    assert "Created kindness" in capsys.readouterr().out
    assert set(Activity.objects.filter(project=project).values_list("actor_name", flat=True)) == {""}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bad slug", "--name", "X"], "slug"),
        (["ok", "--name", "X", "--overlap", "0"], "overlap"),
        (["ok", "--name", "X", "--owner", "nobody"], "owner"),
        (["ok", "--name", "X", "--guidelines", "/nonexistent/file.md"], "guidelines"),
        (["ok", "--name", "X", "--principle", ": no name"], "principles"),
    ],
)
def test_create_project_command_errors_name_the_field(db, argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_project", *argv)
    assert not Project.objects.exists()
