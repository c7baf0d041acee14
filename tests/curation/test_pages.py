"""The curator pages: what each shows on known fixtures, and the writes they make."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotate.models import Annotation, Annotator, Item, Membership, Prompt, Role
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import annotator_for_user, assignment_next
from tests.factories import MembershipFactory, PrincipleFactory, ProjectFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def submit(project, user, *, kind, time_ms=None, **fields):
    """Lease the next item of ``kind`` to ``user`` and submit ``fields`` for it."""
    annotator = annotator_for_user(user)
    lease = assignment_next(project=project, annotator=annotator, kind=kind)
    assert lease is not None, f"nothing to lease for {user}"
    annotation, created = annotation_record(
        assignment=lease,
        annotator=annotator,
        data=AnnotationInput(time_spent_ms=time_ms, **fields),
        idempotency_key=uuid.uuid4(),
    )
    assert created
    return annotation


def annotator_user(project, name):
    user = UserFactory(username=name)
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def campaign(project, personas):
    """overlap 2. pairwise: p1 done (ann1 A, ann2 B), p2 leased by ann1; thumb t1 excluded,
    t2 open; ranking r1 open; judgment j1 done by ann1 and ann2."""
    ann1 = personas["annotator"]
    ann2 = annotator_user(project, "second-annotator")
    p1 = make_item(project, "pairwise")
    p2 = make_item(project, "pairwise")
    t1 = make_item(project, "thumb", excluded=True)
    t2 = make_item(project, "thumb")
    r1 = make_item(project, "ranking", n_responses=3)
    j1 = make_item(project, "judgment")
    submit(project, ann1, kind="pairwise", choice="A", time_ms=3000)
    submit(project, ann2, kind="pairwise", choice="B", strength=2, time_ms=5000)
    submit(project, ann1, kind="judgment", critique="Too long.", time_ms=1000)
    submit(project, ann2, kind="judgment", critique="Wrong.", time_ms=9000)
    submit(project, ann2, kind="thumb", choice="up", time_ms=2000)  # t2: one of two judgments
    lease = assignment_next(project=project, annotator=annotator_for_user(ann1), kind="pairwise")
    assert lease.item == p2
    return {"ann1": ann1, "ann2": ann2, "p1": p1, "p2": p2, "t1": t1, "t2": t2, "r1": r1, "j1": j1}


def test_projects_list_shows_only_projects_i_curate(client, project, personas, campaign):
    other = ProjectFactory(name="Somebody else's")
    annotating = ProjectFactory(name="Where I only annotate")
    MembershipFactory(project=annotating, user=personas["curator"], role=Role.ANNOTATOR)
    response = login(client, personas["curator"]).get(reverse("curation:projects"))
    assert response.status_code == 200
    html = response.content.decode()
    assert project.name in html
    assert other.name not in html and annotating.name not in html
    [row] = response.context["rows"]
    totals = row["kinds"]["all"]
    assert (totals.total, totals.done, totals.leased, totals.open, totals.excluded) == (6, 2, 1, 2, 1)
    assert (totals.judgments_given, totals.judgments_wanted) == (5, 10)


def test_projects_list_empty_for_annotator(client, personas):
    response = login(client, personas["annotator"]).get(reverse("curation:projects"))
    assert response.status_code == 200
    assert response.context["rows"] == []


def test_overview_counts_per_kind(client, project, personas, campaign):
    response = login(client, personas["owner"]).get(reverse("curation:overview", args=[project.slug]))
    assert response.status_code == 200
    kinds = response.context["kinds"]
    got = {
        k: (p.total, p.open, p.leased, p.done, p.excluded, p.live_leases, p.judgments_given, p.judgments_wanted)
        for k, p in kinds.items()
    }
    assert got == {
        "pairwise": (2, 0, 1, 1, 0, 1, 2, 4),
        "thumb": (2, 1, 0, 0, 1, 0, 1, 2),
        "ranking": (1, 1, 0, 0, 0, 0, 0, 2),
        "judgment": (1, 0, 0, 1, 0, 0, 2, 2),
        "all": (6, 2, 1, 2, 1, 1, 5, 10),
    }
    html = response.content.decode()
    row = re.search(r'<tr data-kind="pairwise">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["2", "0", "1", "1", "0", "1", "2 / 4"]
    # The done segment of the pairwise bar is half the bar.
    assert 'class="done" x="0.000" y="0" width="50.000"' in row


def test_overview_per_annotator_time_and_median(client, project, personas, campaign):
    ann1, ann2 = campaign["ann1"], campaign["ann2"]
    response = login(client, personas["curator"]).get(reverse("curation:overview", args=[project.slug]))
    stats = {a.name: a for a in response.context["annotators"]}
    one, two = stats[ann1.username], stats[ann2.username]
    assert (one.annotations, one.total_ms, one.median_ms, one.live_leases) == (2, 4000, 2000.0, 1)
    assert (two.annotations, two.total_ms, two.median_ms, two.live_leases) == (3, 16000, 5000.0, 0)
    assert one.role == two.role == Role.ANNOTATOR
    assert one.last_active is not None
    html = response.content.decode()
    assert "16 s" in html and "5 s" in html  # total and median of the second annotator


def test_overview_median_of_even_count_and_imported_annotator(client, project, personas):
    """Median of 1 s, 2 s, 4 s, 9 s is 3 s; a non-human annotator is listed with its type."""
    judge = Annotator.objects.create(type=Annotator.Type.MODEL, name="judge", model_name="smol")
    for ms in (1000, 2000, 4000, 9000):
        annotation_record(
            item=make_item(project, "thumb"), annotator=judge, data=AnnotationInput(choice="up", time_spent_ms=ms)
        )
    response = login(client, personas["owner"]).get(reverse("curation:overview", args=[project.slug]))
    [row] = [a for a in response.context["annotators"] if a.name == "judge"]
    assert (row.annotations, row.total_ms, row.median_ms, row.type_label) == (4, 16000, 3000.0, "Algorithmic judge")
    assert "Algorithmic judge" in response.content.decode()


def test_median_in_sql_agrees_with_statistics_median(project, personas, campaign):
    """PostgreSQL's percentile_cont(0.5) agrees with Python's statistics.median, per annotator."""
    import statistics

    from curation.projects.selectors import annotator_stats

    times: dict[str, list[int]] = {}
    for name, ms in Annotation.objects.filter(item__project=project, time_spent_ms__isnull=False).values_list(
        "annotator__name", "time_spent_ms"
    ):
        times.setdefault(name, []).append(ms)
    in_sql = {a.name: a.median_ms for a in annotator_stats(project=project) if a.annotations}
    assert in_sql == {name: float(statistics.median(ms)) for name, ms in times.items()}
    assert in_sql[campaign["ann2"].username] == 5000.0


def test_overview_query_count_does_not_grow_with_data(client, project, personas):
    login(client, personas["owner"])
    url = reverse("curation:overview", args=[project.slug])
    make_item(project, "pairwise")
    submit(project, personas["annotator"], kind="pairwise", choice="A", time_ms=10)
    client.get(url)  # warm: the first request reads the user, later ones take it from the cache
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    for i in range(12):
        make_item(project, ["pairwise", "thumb", "ranking", "judgment"][i % 4], n_responses=3 if i % 4 == 2 else None)
    for i in range(4):
        user = annotator_user(project, f"extra-{i}")
        submit(project, user, kind="thumb", choice="down", time_ms=100 * i)
    with CaptureQueriesContext(connection) as big:
        client.get(url)
    assert len(big.captured_queries) == len(small.captured_queries)


# --- members ---------------------------------------------------------------


def test_members_page_lists_roles(client, project, personas):
    response = login(client, personas["curator"]).get(reverse("curation:members", args=[project.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    for role in Role.values:
        assert f'data-username="{role}-{project.slug}"' in html
    # Owners first, then curators, annotators, researchers.
    order = [html.index(f'data-username="{role}-{project.slug}"') for role in Role.values]
    assert order == sorted(order)
    # Curators see the list but no forms that change it.
    assert 'name="action"' not in html
    assert "Only owners can change members" in html


def test_owner_adds_changes_and_removes_a_member(client, project, personas):
    newcomer = UserFactory(username="newcomer")
    login(client, personas["owner"])
    url = reverse("curation:members", args=[project.slug])
    assert client.get(url).content.decode().count('name="action"') >= 3
    response = client.post(url, {"action": "add", "username": "newcomer", "role": "annotator"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=newcomer).role == Role.ANNOTATOR
    response = client.post(url, {"action": "role", "username": "newcomer", "role": "curator"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=newcomer).role == Role.CURATOR
    # The new curator now reaches the curator pages.
    other = client.__class__()
    login(other, newcomer)
    assert other.get(reverse("curation:overview", args=[project.slug])).status_code == 200
    response = client.post(url, {"action": "remove", "username": "newcomer"})
    assert response.status_code == 302
    assert not Membership.objects.filter(project=project, user=newcomer).exists()
    assert other.get(reverse("curation:overview", args=[project.slug])).status_code == 404


def test_member_errors_name_the_field(client, project, personas):
    login(client, personas["owner"])
    url = reverse("curation:members", args=[project.slug])
    response = client.post(url, {"action": "add", "username": "nobody-here", "role": "annotator"})
    assert response.status_code == 400
    assert "username: no user named &#x27;nobody-here&#x27;" in response.content.decode()
    response = client.post(url, {"action": "add", "username": personas["annotator"].username, "role": "curator"})
    assert response.status_code == 400 and "already a member" in response.content.decode()
    response = client.post(url, {"action": "add", "username": "x", "role": "emperor"})
    assert response.status_code == 400 and "role:" in response.content.decode()
    assert Membership.objects.filter(project=project).count() == 4


def test_last_owner_cannot_leave_or_be_demoted(client, project, personas):
    owner = personas["owner"]
    login(client, owner)
    url = reverse("curation:members", args=[project.slug])
    response = client.post(url, {"action": "role", "username": owner.username, "role": "curator"})
    assert response.status_code == 400 and "at least one owner" in response.content.decode()
    response = client.post(url, {"action": "remove", "username": owner.username})
    assert response.status_code == 400 and "last owner" in response.content.decode()
    assert Membership.objects.get(project=project, user=owner).role == Role.OWNER
    # With a second owner, the first may step down.
    client.post(url, {"action": "role", "username": personas["curator"].username, "role": "owner"})
    response = client.post(url, {"action": "role", "username": owner.username, "role": "curator"})
    assert response.status_code == 302 and response["Location"] == url
    assert Membership.objects.get(project=project, user=owner).role == Role.CURATOR


def test_owner_who_leaves_is_sent_home(client, project, personas):
    owner = personas["owner"]
    login(client, owner)
    url = reverse("curation:members", args=[project.slug])
    client.post(url, {"action": "role", "username": personas["curator"].username, "role": "owner"})
    response = client.post(url, {"action": "remove", "username": owner.username})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert not Membership.objects.filter(project=project, user=owner).exists()
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("action", ["add", "role", "remove"])
def test_curator_cannot_change_members(client, project, personas, action):
    UserFactory(username="newcomer")
    login(client, personas["curator"])
    data = {"action": action, "username": "newcomer" if action == "add" else personas["annotator"].username}
    data["role"] = "owner"
    before = sorted(Membership.objects.filter(project=project).values_list("user__username", "role"))
    response = client.post(reverse("curation:members", args=[project.slug]), data)
    assert response.status_code == 403
    assert sorted(Membership.objects.filter(project=project).values_list("user__username", "role")) == before


# --- item browser ------------------------------------------------------------


def browse(client, project, **params):
    response = client.get(reverse("curation:items", args=[project.slug]), params)
    assert response.status_code == 200, response.content
    return response, {item.uuid for item in response.context["page"]}


def test_item_browser_filters(client, project, personas, campaign):
    c = campaign
    login(client, personas["curator"])
    _, everything = browse(client, project)
    assert everything == {c[k].uuid for k in ("p1", "p2", "t1", "t2", "r1", "j1")}
    assert browse(client, project, kind="pairwise")[1] == {c["p1"].uuid, c["p2"].uuid}
    assert browse(client, project, status="done")[1] == {c["p1"].uuid, c["j1"].uuid}
    assert browse(client, project, status="leased")[1] == {c["p2"].uuid}
    assert browse(client, project, status="excluded")[1] == {c["t1"].uuid}
    assert browse(client, project, status="open")[1] == {c["t2"].uuid, c["r1"].uuid}
    assert browse(client, project, kind="thumb", status="open")[1] == {c["t2"].uuid}
    ann1 = annotator_for_user(c["ann1"])
    ann2 = annotator_for_user(c["ann2"])
    assert browse(client, project, annotator=str(ann1.uuid))[1] == {c["p1"].uuid, c["j1"].uuid}
    assert browse(client, project, annotator=str(ann2.uuid))[1] == {c["p1"].uuid, c["j1"].uuid, c["t2"].uuid}
    assert browse(client, project, annotator=str(ann2.uuid), kind="thumb")[1] == {c["t2"].uuid}


def test_item_browser_text_search_and_row_content(client, project, personas, campaign):
    prompt = campaign["r1"].prompt
    prompt.messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "How do Zebras sleep?"}]
    prompt.save()
    login(client, personas["curator"])
    response, found = browse(client, project, q="zebras")
    assert found == {campaign["r1"].uuid}
    html = response.content.decode()
    row = re.search(rf'<tr data-item="{campaign["r1"].uuid}">(.*?)</tr>', html, re.S).group(1)
    assert "Ranking" in row and "How do Zebras sleep?" in row and "0 / 2" in row and "state-open" in row
    assert browse(client, project, q="no such words anywhere")[1] == set()
    assert browse(client, project, q="Be terse")[1] == {campaign["r1"].uuid}  # any message counts


def test_item_browser_rejects_bad_filter_values(client, project, personas):
    login(client, personas["curator"])
    response = client.get(reverse("curation:items", args=[project.slug]), {"status": "bogus", "annotator": "nope"})
    assert response.status_code == 400
    assert "bogus is not one of the available choices" in response.content.decode()


def test_item_browser_paginates_and_keeps_filters(client, project, personas):
    for _ in range(55):
        make_item(project, "thumb")
    make_item(project, "pairwise")
    login(client, personas["curator"])
    response, first = browse(client, project, kind="thumb")
    assert len(first) == 50 and response.context["page"].paginator.count == 55
    assert "?kind=thumb&amp;page=2" in response.content.decode()
    _, second = browse(client, project, kind="thumb", page=2)
    assert len(second) == 5 and not first & second


def test_item_browser_other_projects_items_invisible(client, project, personas):
    other = ProjectFactory()
    foreign = make_item(other, "thumb")
    login(client, personas["curator"])
    _, found = browse(client, project)
    assert foreign.uuid not in found
    response = client.get(reverse("curation:item", args=[project.slug, foreign.uuid]))
    assert response.status_code == 404


# --- item detail -------------------------------------------------------------


def test_item_detail_shows_every_annotation_in_canonical_terms(client, project, personas):
    harmless = PrincipleFactory(project=project, name="harmless")
    honest = PrincipleFactory(project=project, name="honest")
    item = make_item(project, "pairwise", texts=["First **bold** answer", "Second answer <script>alert(1)</script>"])
    prompt = item.prompt
    prompt.messages = [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke"},
    ]
    prompt.save()
    a_uuid, b_uuid = (str(r.uuid) for r in item.ordered_responses())
    human = annotator_for_user(personas["annotator"])
    lease = assignment_next(project=project, annotator=human)
    annotation_record(
        assignment=lease,
        annotator=human,
        data=AnnotationInput(
            choice="B",
            strength=3,
            rationale="B is *funnier*",
            verdicts={harmless.pk: "A", honest.pk: "neither"},
            display_order=[b_uuid, a_uuid],
            time_spent_ms=61000,
        ),
        idempotency_key=uuid.uuid4(),
    )
    judge = Annotator.objects.create(type=Annotator.Type.MODEL, name="smol judge", model_name="SmolLM2-135M")
    annotation_record(item=item, annotator=judge, data=AnnotationInput(choice="tie", display_order=[a_uuid, b_uuid]))

    response = login(client, personas["curator"]).get(reverse("curation:item", args=[project.slug, item.uuid]))
    assert response.status_code == 200
    html = response.content.decode()
    # Conversation, in order, and both responses with their canonical labels.
    assert html.index("Hi there") < html.index("Hello! How can I help?") < html.index("Tell me a joke")
    assert '<div class="response" id="response-A">' in html and "<strong>bold</strong>" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    table = re.search(r'<table id="annotations">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    human_row, judge_row = rows
    assert personas["annotator"].username in human_row and "Human" in human_row
    assert "B is better" in human_row and "strength 3" in human_row
    assert "<em>funnier</em>" in human_row
    assert "harmless: Favours A" in human_row and "honest: Neither" in human_row
    assert "<td>B, A</td>" in human_row  # B was shown on the left
    assert "1 min 1 s" in human_row
    assert "smol judge" in judge_row and "Algorithmic judge" in judge_row and "SmolLM2-135M" in judge_row
    assert "Tie" in judge_row and "<td>A, B</td>" in judge_row


def test_item_detail_ranking_and_judgment(client, project, personas):
    ranking = make_item(project, "ranking", n_responses=3)
    a, b, c = (str(r.uuid) for r in ranking.ordered_responses())
    judgment = make_item(project, "judgment")
    imported = Annotator.objects.create(type=Annotator.Type.IMPORTED, name="hh-rlhf")
    annotation_record(item=ranking, annotator=imported, data=AnnotationInput(ranking=[[b], [a, c]]))
    annotation_record(
        item=judgment,
        annotator=imported,
        data=AnnotationInput(critique="Misses the `edge` case", corrected_response="Fixed answer"),
    )
    login(client, personas["owner"])
    html = client.get(reverse("curation:item", args=[project.slug, ranking.uuid])).content.decode()
    assert "<strong>B &gt; A = C</strong>" in html and "Imported labels" in html
    html = client.get(reverse("curation:item", args=[project.slug, judgment.uuid])).content.decode()
    assert "<code>edge</code>" in html and "Fixed answer" in html


def test_exclude_and_include_an_item(client, project, personas):
    item = make_item(project, "thumb")
    login(client, personas["curator"])
    url = reverse("curation:item-exclude", args=[project.slug, item.uuid])
    response = client.post(url, {"excluded": "1"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.excluded
    # An excluded item is no longer handed out.
    assert assignment_next(project=project, annotator=annotator_for_user(personas["annotator"])) is None
    assert "Include this item again" in client.get(response["Location"]).content.decode()
    client.post(url, {"excluded": "0"})
    item.refresh_from_db()
    assert not item.excluded
    assert client.get(url).status_code == 405


def test_exclude_denied_to_annotator_and_outsider(client, project, personas):
    item = make_item(project, "thumb")
    url = reverse("curation:item-exclude", args=[project.slug, item.uuid])
    for who in ("annotator", "researcher", "outsider"):
        client.logout()
        login(client, personas[who])
        assert client.post(url, {"excluded": "1"}).status_code == 404
    item.refresh_from_db()
    assert not item.excluded


# --- import ------------------------------------------------------------------


GOOD_JSONL = (
    b'{"id": "q1", "kind": "pairwise", "prompt": "Capital of France?", "responses": ["Paris", "Lyon"]}\n'
    b'{"id": "q2", "kind": "thumb", "prompt": [{"role": "user", "content": "2+2?"}], "responses": ["4"]}\n'
    b'{"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}\n'
)

BAD_JSONL = (
    b'{"id": "q1", "kind": "pairwise", "prompt": "Capital of France?", "responses": ["Paris", "Lyon"]}\n'
    b'{"id": "q2", "kind": "thumb", "prompt": "2+2?", "responses": ["4"]}\n'
    b'{"id": "q3", "kind": "pairwise", "prompt": "Hmm", "responses": "not a list"}\n'
)


def upload(client, project, content: bytes, name="items.jsonl", source=""):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("curation:import", args=[project.slug]),
        {"file": SimpleUploadedFile(name, content, content_type="application/jsonl"), "source_name": source},
    )


def run_import_job(project):
    """Run the import job the last upload queued, here (what a worker does)."""
    from curation.jobs.runner import run_job
    from curation.models import Job

    job = Job.objects.filter(project=project, kind="import").order_by("-created_at", "-id").first()
    return run_job(job.pk)


def test_import_page_good_file_shows_report(client, project, personas, no_heartbeat_thread):
    login(client, personas["curator"])
    assert client.get(reverse("curation:import", args=[project.slug])).status_code == 200
    response = upload(client, project, GOOD_JSONL, source="tiny")
    assert response.status_code == 302, response.content.decode()
    job = run_import_job(project)
    report = job.result
    assert (report["lines"], report["items_created"], report["items_skipped_duplicate"]) == (3, 3, 0)
    assert report["annotations_created"] == 1  # the TRL row's chosen/rejected
    html = client.get(response["Location"]).content.decode()
    assert 'id="import-report"' in html
    assert Item.objects.filter(project=project).count() == 3
    assert sorted(Item.objects.filter(project=project).values_list("kind", flat=True)) == [
        "pairwise",
        "pairwise",
        "thumb",
    ]
    # The overview lists the import by source and user.
    overview = client.get(reverse("curation:overview", args=[project.slug]))
    [imported] = overview.context["imports"]
    assert (imported["source"], imported["by"], imported["prompts"]) == ("tiny", personas["curator"].username, 3)
    table = re.search(r'<table id="imports">(.*?)</table>', overview.content.decode(), re.S).group(1)
    assert "tiny" in table and personas["curator"].username in table
    # Re-importing the same file adds nothing.
    upload(client, project, GOOD_JSONL)
    report = run_import_job(project).result
    assert report["items_created"] == 0
    assert report["items_skipped_duplicate"] == 3
    assert Item.objects.filter(project=project).count() == 3


def test_import_page_bad_file_shows_line_and_imports_nothing(client, project, personas, no_heartbeat_thread):
    login(client, personas["owner"])
    response = upload(client, project, BAD_JSONL)
    assert response.status_code == 302
    assert run_import_job(project).status == "failed"
    html = client.get(response["Location"]).content.decode()
    section = re.search(r'<section id="import-rejected".*?</section>', html, re.S).group(0)
    assert '<td class="num">3</td><td>responses</td>' in section
    assert "Nothing was imported" in section
    assert Item.objects.filter(project=project).count() == 0
    assert Prompt.objects.filter(project=project).count() == 0
    assert Annotation.objects.count() == 0


def test_import_page_lists_many_errors_and_counts_the_rest(client, project, personas, no_heartbeat_thread):
    login(client, personas["owner"])
    bad = b"".join(b'{"id": "x%d", "kind": "thumb", "prompt": "Hi", "responses": 7}\n' % i for i in range(150))
    response = upload(client, project, bad)
    job = run_import_job(project)
    assert job.status == "failed" and job.result["lines_rejected"] == 150
    html = client.get(response["Location"]).content.decode()
    section = re.search(r'<section id="import-rejected".*?</section>', html, re.S).group(0)
    assert '<td class="num">1</td>' in section and '<td class="num">100</td>' in section
    assert '<td class="num">101</td>' not in section
    assert "150 in all" in section
    assert Item.objects.filter(project=project).count() == 0


def test_import_page_empty_file_is_an_error(client, project, personas):
    login(client, personas["owner"])
    response = upload(client, project, b"", name="empty.jsonl")
    # Django refuses an empty upload itself ("The submitted file is empty.").
    assert response.status_code == 400
    assert "empty" in response.content.decode()
    assert Item.objects.filter(project=project).count() == 0


def test_item_pages_query_count_does_not_grow_with_rows(client, project, personas):
    login(client, personas["curator"])
    judge = Annotator.objects.create(type=Annotator.Type.MODEL, name="judge", model_name="m")
    principle = PrincipleFactory(project=project)

    def add(n):
        for _ in range(n):
            item = make_item(project, "thumb")
            annotation_record(
                item=item, annotator=judge, data=AnnotationInput(choice="up", verdicts={principle.pk: "A"})
            )
        return item

    item = add(2)
    client.get(reverse("home"))  # warm: the first request reads the user, later ones take it from the cache
    with CaptureQueriesContext(connection) as small_list:
        client.get(reverse("curation:items", args=[project.slug]))
    with CaptureQueriesContext(connection) as small_item:
        client.get(reverse("curation:item", args=[project.slug, item.uuid]))
    item = add(30)
    for i in range(3):  # more annotations on one item
        user = annotator_user(project, f"more-{i}")
        annotation_record(item=item, annotator=annotator_for_user(user), data=AnnotationInput(choice="down"))
    with CaptureQueriesContext(connection) as big_list:
        client.get(reverse("curation:items", args=[project.slug]))
    with CaptureQueriesContext(connection) as big_item:
        client.get(reverse("curation:item", args=[project.slug, item.uuid]))
    assert len(big_list.captured_queries) == len(small_list.captured_queries)
    assert len(big_item.captured_queries) == len(small_item.captured_queries)


def test_overview_lists_recent_jobs(client, project, personas):
    from curation.jobs.services import job_create

    job = job_create(
        project=project, kind="generate", params={"per_prompt": 2}, user=personas["curator"], enqueue=False
    )
    client.force_login(personas["curator"])
    body = client.get(f"/p/{project.slug}/curate/").content.decode()
    assert 'id="recent-jobs"' in body
    assert f'data-job="{job.uuid}"' in body
