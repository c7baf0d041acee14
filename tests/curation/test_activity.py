"""The project activity log: what each write records (who, verb, target,
before → after), and the page at ``/p/<slug>/curate/activity/`` (filters,
pages, htmx partial; per-role denial is in ``tests/test_access.py``)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotate.models import Role
from curation.items.services import item_request_more, item_resolve, item_set_excluded
from curation.jobs.services import job_create
from curation.models import Activity
from curation.projects.activity import VERBS, activity_record, changes_between
from curation.projects.services import membership_add, membership_remove, membership_set_role
from tests.factories import ProjectFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db


def entries(project):
    return list(Activity.objects.filter(project=project).order_by("id"))


def test_changes_between_keeps_only_what_changed():
    before = {"overlap": 3, "guidelines": "old", "probe_rate": 0.1}
    after = {"overlap": 2, "guidelines": "old", "probe_rate": 0.1, "kinds": ["thumb"]}
    assert changes_between(before, after) == {"overlap": [3, 2], "kinds": [None, ["thumb"]]}


def test_record_keeps_actor_name_and_target_after_they_are_gone(project, personas):
    owner = personas["owner"]
    item = make_item(project, "thumb")
    entry = activity_record(project=project, actor=owner, verb="item.exclude", target=item, changes={"x": (1, 2)})
    assert (entry.actor_name, entry.target_type, entry.target_id) == (owner.username, "item", str(item.uuid))
    assert entry.changes == {"x": [1, 2]}
    name = owner.username
    item.delete()
    owner.delete()
    entry.refresh_from_db()
    assert entry.actor is None and entry.actor_name == name and entry.target_label == f"thumb item {item.uuid}"


def test_unknown_verb_is_refused(project):
    with pytest.raises(ValueError, match="verb"):
        activity_record(project=project, actor=None, verb="project.explode")


def test_member_writes_are_logged_with_before_and_after(project, personas):
    owner = personas["owner"]
    newcomer = UserFactory(username="newcomer")
    membership_add(project=project, username="newcomer", role=Role.ANNOTATOR, by=owner)
    membership_set_role(project=project, username="newcomer", role=Role.CURATOR, by=owner)
    membership_set_role(project=project, username="newcomer", role=Role.CURATOR, by=owner)  # no change: no entry
    membership_remove(project=project, username="newcomer", by=owner)
    logged = [(e.verb, e.actor_name, e.target_label, e.changes) for e in entries(project)]
    assert logged == [
        ("member.add", owner.username, newcomer.username, {"role": [None, "annotator"]}),
        ("member.role", owner.username, newcomer.username, {"role": ["annotator", "curator"]}),
        ("member.remove", owner.username, newcomer.username, {"role": ["curator", None]}),
    ]


def test_refused_member_write_logs_nothing(project, personas):
    with pytest.raises(ValidationError):
        membership_set_role(project=project, username=personas["owner"].username, role=Role.CURATOR)
    with pytest.raises(ValidationError):
        membership_add(project=project, username="nobody-here", role=Role.CURATOR)
    assert entries(project) == []


def test_item_writes_are_logged(project, personas):
    curator = personas["curator"]
    project.max_overlap = 5
    project.save()
    item = make_item(project, "pairwise")
    item_set_excluded(item=item, excluded=True, user=curator)
    item_set_excluded(item=item, excluded=True, user=curator)  # already excluded: nothing to log
    item_set_excluded(item=item, excluded=False, user=curator)
    item_resolve(item=item, verdict="A", note="clear case", user=curator)
    item_resolve(item=item, verdict="B", user=curator)
    item_resolve(item=item, verdict=None, user=curator)
    item_request_more(item=item, extra=1, user=curator)
    logged = [(e.verb, e.target_id, e.changes) for e in entries(project)]
    uid = str(item.uuid)
    assert logged == [
        ("item.exclude", uid, {"excluded": [False, True]}),
        ("item.include", uid, {"excluded": [True, False]}),
        ("item.resolve", uid, {"resolution": [None, "A"], "note": [None, "clear case"]}),
        ("item.resolve", uid, {"resolution": ["A", "B"]}),
        ("item.unresolve", uid, {"resolution": ["B", None]}),
        ("item.request_more", uid, {"judgments wanted": [project.overlap, project.overlap + 1]}),
    ]
    assert {e.actor_name for e in entries(project)} == {curator.username}


def test_job_launch_is_logged_by_the_one_create_path(project, personas):
    from curation.audit.services import audit_create

    job = audit_create(project=project, user=personas["curator"], params={"n_boot": 10}, enqueue=False)
    [entry] = entries(project)
    assert (entry.verb, entry.target_type, entry.target_id, entry.actor_name) == (
        "job.launch",
        "job",
        str(job.uuid),
        personas["curator"].username,
    )
    assert entry.changes["kind"] == [None, "audit"]
    assert entry.changes["parameters"][1] == job.params
    system = job_create(project=project, kind="export", enqueue=False)
    assert Activity.objects.get(target_id=str(system.uuid)).actor_name == ""


def _fill(project, personas):
    owner, curator = personas["owner"], personas["curator"]
    item = make_item(project, "thumb")
    for _ in range(3):
        item_set_excluded(item=item, excluded=True, user=curator)
        item_set_excluded(item=item, excluded=False, user=owner)
    job_create(project=project, kind="audit", enqueue=False)
    return item


def test_page_lists_newest_first_with_before_after(client, project, personas):
    item = _fill(project, personas)
    client.force_login(personas["curator"])
    response = client.get(reverse("curation:activity", kwargs={"slug": project.slug}))
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["page"].paginator.count == 7
    first = response.context["page"][0]
    assert first.verb == "job.launch" and first.actor_name == ""
    assert VERBS["item.exclude"] in html and VERBS["job.launch"] in html
    assert f'href="{reverse("curation:item", kwargs={"slug": project.slug, "item_uuid": item.uuid})}"' in html
    assert '<span class="before">no</span> → <span class="after">yes</span>' in html
    assert ">system<" in html


def test_page_filters_by_verb_and_actor(client, project, personas):
    _fill(project, personas)
    client.force_login(personas["owner"])
    url = reverse("curation:activity", kwargs={"slug": project.slug})
    by_verb = client.get(url, {"verb": "item.exclude"})
    assert [e.verb for e in by_verb.context["page"]] == ["item.exclude"] * 3
    by_actor = client.get(url, {"actor": personas["owner"].username})
    assert {e.verb for e in by_actor.context["page"]} == {"item.include"}
    system = client.get(url, {"actor": "-"})
    assert [e.verb for e in system.context["page"]] == ["job.launch"]
    both = client.get(url, {"actor": personas["curator"].username, "verb": "item.include"})
    assert both.context["page"].paginator.count == 0
    assert "Nothing recorded that matches" in both.content.decode()


def test_page_htmx_gets_the_log_partial_and_bad_filters_are_400(client, project, personas):
    _fill(project, personas)
    client.force_login(personas["curator"])
    url = reverse("curation:activity", kwargs={"slug": project.slug})
    partial = client.get(url, {"verb": "job.launch"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    html = partial.content.decode()
    assert 'id="activity"' in html and "<html" not in html and "activity-filters" not in html
    bad = client.get(url, {"verb": "nonsense", "actor": "nobody"})
    assert bad.status_code == 400
    assert "verb" in bad.content.decode() and "actor" in bad.content.decode()


def test_page_is_paginated_and_per_project(client, project, personas):
    other = ProjectFactory()
    for _ in range(55):
        activity_record(project=project, actor=personas["owner"], verb="project.update", changes={"overlap": [1, 2]})
    activity_record(project=other, actor=None, verb="project.update")
    client.force_login(personas["curator"])
    url = reverse("curation:activity", kwargs={"slug": project.slug})
    first = client.get(url)
    assert len(first.context["page"]) == 50 and first.context["page"].paginator.count == 55
    assert "older ›" in first.content.decode()
    second = client.get(url, {"page": 2})
    assert len(second.context["page"]) == 5


def test_people_writes_are_logged(project, personas):
    from curation.people.services import (
        crowd_join,
        crowd_link_save,
        invitation_accept,
        invitation_create,
        invitation_revoke,
        member_deactivate,
        member_reactivate,
    )

    owner = personas["owner"]
    invitation, secret = invitation_create(project=project, by=owner, role=Role.CURATOR, max_uses=2)
    newcomer = UserFactory(username="invited")
    invitation_accept(secret=secret, user=newcomer)
    invitation_revoke(project=project, invitation_uuid=invitation.uuid, by=owner)
    member_deactivate(project=project, username="invited", by=owner)
    member_reactivate(project=project, username="invited", by=owner)
    crowd = dict(participant_param="PROLIFIC_PID", items_required=5, completion_code="C0DE")
    link = crowd_link_save(project=project, by=owner, enabled=True, **crowd)
    crowd_link_save(project=project, by=owner, enabled=True, **crowd)  # nothing changed: no entry
    crowd_link_save(project=project, by=owner, enabled=True, **{**crowd, "items_required": 10})
    participant = crowd_join(token=link.token, external_id="p-123")
    logged = [(e.verb, e.actor_name, e.changes) for e in entries(project)]
    assert [verb for verb, _, _ in logged] == [
        "invite.create",
        "member.join",
        "invite.revoke",
        "member.deactivate",
        "member.reactivate",
        "crowd.update",
        "crowd.update",
        "crowd.join",
    ]
    assert logged[0][2]["role"] == [None, "curator"] and logged[0][1] == owner.username
    assert logged[1][1] == "invited" and logged[1][2]["role"] == [None, "curator"]
    assert logged[3][2] == {"active": [True, False]}
    assert logged[6][2] == {"items_required": [5, 10]}
    assert logged[7][1] == participant.user.username and logged[7][2]["participant"] == [None, "p-123"]
    assert all(verb in VERBS for verb, _, _ in logged)
