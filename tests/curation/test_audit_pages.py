"""Audit dashboards: who may open them, that they render with an audit and
without one, and that the disagreement actions (exclude, resolve, request
more judgments) change the item, only for curators of its project, with CSRF."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotate.models import Annotation, Annotator, Item
from annotate.services.annotations import AnnotationInput, annotation_record
from curation.audit.services import audit_create
from curation.items.services import item_request_more, item_resolve
from curation.models import AnnotatorAudit, Audit, ItemAudit, Job
from tests.factories import PrincipleFactory, ProjectFactory, UserFactory, make_item

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"

SUMMARY = {
    "version": 1,
    "counts": {"items": 5, "audited": 5, "excluded": 0, "probes": 0, "annotations": 9, "annotators": 3},
    "alpha": {
        "pairwise": {"level": "nominal", "alpha": 0.41, "low": 0.2, "high": 0.6, "n_units": 3},
        "thumb": {"alpha": None, "reason": "no item rated twice"},
        "ranking": {"level": "ordinal", "alpha": -0.1, "low": -0.3, "high": 0.25, "n_units": 3},
    },
    "consensus": {"pairwise": {"method": "majority", "items": 3, "with_consensus": 2, "resolved": 0}},
    "disagreement": {"mean": 0.2, "low_agreement": 1, "no_consensus": 1},
    "annotators": {"n": 3, "outliers": 1, "rule": "agreement z < -1.5", "agreement_mean": 0.7, "median_seconds": 12},
    "ches": {
        "model": "tiny",
        "status": "ok",
        "eligible": 3,
        "scored": 3,
        "histogram": {"edges": [-2.0, -1.0, 0.0, 1.0, 2.0], "counts": [1, 0, 1, 1]},
        "quantiles": {"p05": -1.9, "p50": 0.3, "p95": 1.9},
    },
    "discretion": {
        "source": "all",
        "principles": [{"id": 1, "name": "honest"}, {"id": 2, "name": "harmless"}, {"id": 3, "name": "helpful"}],
        "categories": {"consensus": 2, "conflict": 1, "indifference": 1, "assessed": 4},
        "groups": {
            "human": {
                "n_rows": 4,
                "arbitrariness": {"estimate": 0.5, "low": 0.1, "high": 0.9, "n_ok": 2},
                "supremacy": [[None, 0.25, 1.0], [0.75, None, None], [0.0, None, None]],
                "conflicts": [[0, 4, 2], [4, 0, 0], [2, 0, 0]],
                "priority": {
                    "elo": [0.0, 1.1, None],
                    "status": ["fitted", "fitted", "always_loses"],
                    "rank": [2, 1, 3],
                    "low": [-0.5, 0.4, None],
                    "high": [0.5, 1.8, None],
                },
            },
            "judge": {"n_rows": 4, "arbitrariness": {"estimate": 0.0, "low": 0.0, "high": 0.0, "n_ok": 2}},
        },
        "discrepancy": {"human_vs_judge": 0.5, "annotators": {}},
    },
}


@pytest.fixture
def world(project, personas):
    """Three pairwise items (the first most disputed), a thumb and a ranking item,
    two humans and a judge, and one audit of it all."""
    project.max_overlap = 4
    project.save(update_fields=["max_overlap"])
    honest = PrincipleFactory(project=project, name="honest")
    people = [
        Annotator.objects.create(user=UserFactory(username=f"ann{i}-{project.slug}"), name=f"person {i}")
        for i in range(2)
    ]
    judge = Annotator.objects.create(type=Annotator.Type.MODEL, name="judge", model_name="smol")
    disputed = make_item(project, "pairwise", texts=["Paris is the capital.", "Lyon is the capital."])
    calm = make_item(project, "pairwise")
    third = make_item(project, "pairwise")
    thumb = make_item(project, "thumb")
    ranking = make_item(project, "ranking", n_responses=3)
    votes = {disputed: ["A", "B", "tie"], calm: ["A", "A", "A"], third: ["B", "B", "A"]}
    for item, choices in votes.items():
        for who, choice in zip([*people, judge], choices, strict=True):
            annotation_record(
                item=item,
                annotator=who,
                data=AnnotationInput(
                    choice=choice,
                    strength=2 if choice in ("A", "B") else None,
                    rationale=f"{who.name} thinks **{choice}** on {item.uuid}",
                    verdicts={honest.pk: "A"},
                    time_spent_ms=4000,
                ),
            )
    audit = Audit.objects.create(project=project, summary=SUMMARY)
    figures = {
        disputed: (3, 1 / 3, 1.58, 2 / 3, ["low_agreement", "no_consensus"], 1.5),
        calm: (3, 1.0, 0.0, 0.0, [], -1.5),
    }
    figures[third] = (3, 2 / 3, 0.92, 1 / 3, ["swap_inconsistent"], 0.5)
    for item, (n, share, entropy, dis, flags, ln) in figures.items():
        links = item.ordered_responses()
        ItemAudit.objects.create(
            audit=audit,
            item=item,
            n_judgments=n,
            majority_share=share,
            entropy=entropy,
            disagreement=dis,
            consensus={"choice": "A" if dis < 0.5 else None, "method": "majority"},
            chosen=links[0],
            rejected=links[1],
            ches=ln * 10,
            ln_ches=ln,
            ches_model="tiny",
            flags=flags,
            details={"votes": {"A": 1, "B": 1, "tie": 1}},
        )
    ItemAudit.objects.create(audit=audit, item=thumb, n_judgments=0)
    ItemAudit.objects.create(audit=audit, item=ranking, n_judgments=0)
    for index, who in enumerate([*people, judge]):
        AnnotatorAudit.objects.create(
            audit=audit,
            annotator=who,
            n_annotations=3,
            agreement=[0.9, 0.3, 0.7][index],
            kappa=0.5,
            probe_consistency=[1.0, 0.5, None][index],
            median_seconds=4.0,
            arbitrariness=[0.1, 0.6, 0.0][index],
            outlier=index == 1,
            flags=["low_agreement"] if index == 1 else [],
            details={"discretion": {"arbitrariness": {"low": 0.0, "high": 0.3}, "discrepancy_vs_human": 0.25}},
        )
    return {
        "project": project,
        "personas": personas,
        "audit": audit,
        "disputed": disputed,
        "calm": calm,
        "third": third,
        "thumb": thumb,
        "ranking": ranking,
        "people": people,
        "judge": judge,
    }


def login(personas, who="curator", **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(personas[who])
    return client


PAGES = ["overview", "disagreement", "annotators", "ches", "discretion", "ambiguity"]


def _url(name, w, **extra):
    return reverse(f"audit:{name}", kwargs={"slug": w["project"].slug, **extra})


# --- access -------------------------------------------------------------------


ACCESS = {"owner": 200, "curator": 200, "annotator": 404, "researcher": 404, "outsider": 404}


@pytest.mark.parametrize("page", [*PAGES, "item"])
def test_pages_are_for_curators_and_owners_only(world, page):
    extra = {"item_uuid": world["disputed"].uuid} if page == "item" else {}
    url = _url(page, world, **extra)
    wrong = []
    for who, want in ACCESS.items():
        response = login(world["personas"], who).get(url)
        if response.status_code != want:
            wrong.append(f"{who}: {response.status_code} (want {want})")
        if want == 404 and world["project"].name.encode() in response.content:
            wrong.append(f"{who}: 404 names the project")
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert not wrong, wrong


ACTIONS = [
    ("item-exclude", {"excluded": "1"}),
    ("item-resolve", {"verdict": "B", "note": "B is right"}),
    ("item-more", {"extra": "1"}),
    ("run", {}),
    ("encode", {}),
]


def _item_state(item):
    item.refresh_from_db()
    return (item.excluded, item.resolution, item.target_overlap, item.status)


@pytest.mark.parametrize(("name", "data"), ACTIONS)
def test_actions_deny_non_curators_and_change_nothing(world, name, data):
    item = world["disputed"]
    extra = {"item_uuid": item.uuid} if name.startswith("item") else {}
    url = _url(name, world, **extra)
    before, jobs = _item_state(item), Job.objects.count()
    for who in ("annotator", "researcher", "outsider"):
        assert login(world["personas"], who).post(url, data).status_code == 404, who
    assert Client().post(url, data).status_code == 302
    assert login(world["personas"], "curator").get(url).status_code == 405
    assert _item_state(item) == before and Job.objects.count() == jobs


def test_actions_are_scoped_to_the_project(world):
    """A curator of another project cannot touch this project's item through their own project's URL."""
    other = ProjectFactory()
    from tests.factories import MembershipFactory

    MembershipFactory(project=other, user=world["personas"]["curator"], role="curator")
    url = reverse("audit:item-exclude", kwargs={"slug": other.slug, "item_uuid": world["disputed"].uuid})
    assert login(world["personas"]).post(url, {"excluded": "1"}).status_code == 404
    assert not Item.objects.get(pk=world["disputed"].pk).excluded


@pytest.mark.parametrize(("name", "data"), ACTIONS[:3])
def test_actions_need_the_csrf_token(world, name, data):
    item = world["disputed"]
    url = _url(name, world, item_uuid=item.uuid)
    client = login(world["personas"], enforce_csrf_checks=True)
    before = _item_state(item)
    assert client.post(url, data).status_code == 403
    assert _item_state(item) == before
    client.get(_url("disagreement", world))
    token = client.cookies["csrftoken"].value
    response = client.post(url, data, headers={"X-CSRFToken": token})
    assert response.status_code == 302
    assert _item_state(item) != before


# --- pages with and without an audit --------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_pages_without_an_audit_say_so(project, personas, page):
    make_item(project, "pairwise")
    response = login(personas).get(reverse(f"audit:{page}", kwargs={"slug": project.slug}))
    assert response.status_code == 200
    assert b"No audit yet" in response.content
    assert b"Run audit" in response.content
    assert response.headers["Content-Security-Policy"]


def _svgs(response) -> list[ET.Element]:
    html = response.content.decode()
    out, start = [], 0
    while (start := html.find("<svg", start)) != -1:
        end = html.index("</svg>", start) + len("</svg>")
        out.append(ET.fromstring(html[start:end]))
        start = end
    return out


def test_overview_shows_alpha_with_intervals_and_progress(world):
    response = login(world["personas"]).get(_url("overview", world))
    assert response.status_code == 200
    body = response.content.decode()
    assert "0.410" in body and "0.200 – 0.600" in body and "no item rated twice" in body
    assert "out of date" not in body
    svgs = _svgs(response)
    alpha, progress = svgs[0], svgs[1]
    assert len(alpha.findall(f".//{SVG}rect[@class='hbar']")) == 2  # thumb has no α: listed, not drawn
    assert len(alpha.findall(f".//{SVG}g[@class='err']")) == 2
    assert progress.find(f"{SVG}title").text.startswith("Annotations over time")
    # One pairwise series, one dot per day with annotations (all today).
    assert len(progress.findall(f".//{SVG}circle")) == 1


def test_overview_says_when_the_audit_is_older_than_the_annotations(world):
    Audit.objects.filter(pk=world["audit"].pk).update(created_at=timezone.now() - timedelta(days=1))
    body = login(world["personas"]).get(_url("overview", world)).content.decode()
    assert "out of date" in body and "9 annotations since" in body


def test_disagreement_sorts_filters_and_paginates(world):
    client = login(world["personas"])
    response = client.get(_url("disagreement", world))
    rows = list(response.context["page"].object_list)
    assert [r.item for r in rows] == [world[k] for k in ("disputed", "third", "calm", "thumb", "ranking")]
    assert rows[0].disagreement == pytest.approx(2 / 3)
    response = client.get(_url("disagreement", world), {"sort": "flags"})
    assert response.context["page"].object_list[0].item == world["disputed"]  # two flags
    response = client.get(_url("disagreement", world), {"flag": "swap_inconsistent"})
    assert len(response.context["page"].object_list) == 1
    response = client.get(_url("disagreement", world), {"kind": "thumb"})
    assert [r.item for r in response.context["page"].object_list] == [world["thumb"]]
    assert client.get(_url("disagreement", world), {"sort": "nonsense"}).status_code == 400
    flags = dict(response.context["flags"])
    assert flags == {"low_agreement": 1, "no_consensus": 1, "swap_inconsistent": 1}


def test_disagreement_drill_down_shows_every_annotation(world):
    client = login(world["personas"])
    item = world["disputed"]
    response = client.get(_url("item", world, item_uuid=item.uuid), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body  # the htmx partial only
    for annotation in Annotation.objects.filter(item=item).select_related("annotator"):
        assert annotation.annotator.name in body
    assert f"person 0 thinks <strong>A</strong> on {item.uuid}" in body
    assert "honest: Favours A" in body and "4 s" in body
    assert "Paris is the capital." in body
    full = client.get(_url("item", world, item_uuid=item.uuid))
    assert b"<html" in full.content and b"Exclude this item" in full.content


def test_exclude_from_the_row_with_htmx_returns_the_row(world):
    item = world["disputed"]
    response = login(world["personas"]).post(
        _url("item-exclude", world, item_uuid=item.uuid),
        {"excluded": "1", "part": "row"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="row-{item.uuid}"') and "excluded" in body and ">Include<" in body
    assert Item.objects.get(pk=item.pk).excluded


def test_exclude_from_the_panel_refreshes_panel_and_row(world):
    item = world["disputed"]
    response = login(world["personas"]).post(
        _url("item-exclude", world, item_uuid=item.uuid),
        {"excluded": "1", "in_list": "1"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert "Include this item again" in body
    assert 'hx-swap-oob="outerHTML"' in body
    assert Item.objects.get(pk=item.pk).excluded


def test_exclude_without_javascript_redirects_back(world):
    item = world["disputed"]
    client = login(world["personas"])
    back = _url("disagreement", world) + "?sort=entropy"
    response = client.post(_url("item-exclude", world, item_uuid=item.uuid), {"excluded": "1", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert Item.objects.get(pk=item.pk).excluded
    response = client.post(
        _url("item-exclude", world, item_uuid=item.uuid), {"excluded": "0", "next": "https://evil.example/"}
    )
    assert response["Location"] == _url("item", world, item_uuid=item.uuid)
    assert not Item.objects.get(pk=item.pk).excluded


def test_resolve_through_the_page(world):
    client = login(world["personas"])
    item = world["disputed"]
    client.post(_url("item-resolve", world, item_uuid=item.uuid), {"verdict": "B", "note": " B is right "})
    item.refresh_from_db()
    assert item.resolution["choice"] == "B" and item.resolution["note"] == "B is right"
    assert item.resolution["by"] == world["personas"]["curator"].username
    response = client.post(
        _url("item-resolve", world, item_uuid=item.uuid), {"verdict": "C"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422 and b"pairwise verdict is one of" in response.content
    client.post(_url("item-resolve", world, item_uuid=item.uuid), {"verdict": "A", "clear": "1"})
    item.refresh_from_db()
    assert item.resolution is None
    # A ranking by its response labels.
    ranking = world["ranking"]
    a, b, c = (str(r.uuid) for r in ranking.ordered_responses())
    client.post(_url("item-resolve", world, item_uuid=ranking.uuid), {"verdict": "c > a = B"})
    ranking.refresh_from_db()
    assert ranking.resolution["ranking"] == [[c], [a, b]]


def test_request_more_through_the_page(world):
    item = world["disputed"]
    Item.objects.filter(pk=item.pk).update(status=Item.Status.DONE)
    response = login(world["personas"]).post(
        _url("item-more", world, item_uuid=item.uuid), {"extra": "5"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.target_overlap == 4 and item.status == Item.Status.OPEN  # capped at max_overlap


def test_ches_page_counts_what_a_threshold_drops(world):
    client = login(world["personas"])
    response = client.get(_url("ches", world))
    assert response.context["cut"].total == 3
    svg = _svgs(response)[0]
    assert len(svg.findall(f".//{SVG}rect[@data-count]")) == 4  # the stored histogram's bins
    body = response.content.decode()
    # Top pairs side by side, highest first, model text through the markdown filter.
    assert body.index(f"pair-{world['disputed'].uuid}") < body.index(f"pair-{world['calm'].uuid}")
    assert "Paris is the capital." in body and "Lyon is the capital." in body
    # By value: ln_ches 1.5, 0.5, -1.5; above 0 -> 2 pairs.
    partial = client.get(_url("ches", world), {"mode": "value", "value": "0"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode()
    assert 'data-dropped="2"' in partial.content.decode()
    # Keep the lowest 50 %: the median is 0.5, one pair lies above it.
    partial = client.get(_url("ches", world), {"mode": "keep", "keep": "50"}, headers={"HX-Request": "true"})
    assert 'data-dropped="1"' in partial.content.decode() and "above 0.500" in partial.content.decode()
    assert _svgs(partial)[0].find(f".//{SVG}g[@class='marker']") is not None
    assert client.get(_url("ches", world), {"mode": "keep", "keep": "0"}).context["cut"].dropped == 2


def test_ches_top_pairs_link_to_their_item(world):
    client = login(world["personas"])
    body = client.get(_url("ches", world)).content.decode()
    links = re.findall(r'<a href="([^"]+)" data-item-link="([^"]+)">open item</a>', body)
    assert [item for _href, item in links] == [str(world[k].uuid) for k in ("disputed", "third", "calm")]
    for href, item in links:
        assert href == _url("item", world, item_uuid=item)
        page = client.get(href)
        assert page.status_code == 200 and item in page.content.decode()
    disputed = client.get(links[0][0]).content.decode()
    assert "Paris is the capital." in disputed and "Lyon is the capital." in disputed


def test_ches_page_without_scores_offers_encoding(world):
    summary = dict(SUMMARY, ches={"status": "no_encodings", "reason": "no response is encoded yet"})
    Audit.objects.filter(pk=world["audit"].pk).update(summary=summary)
    ItemAudit.objects.update(ln_ches=None, ches=None)
    body = login(world["personas"]).get(_url("ches", world)).content.decode()
    assert "no response is encoded yet" in body and "Encode responses (for CHES)" in body


def test_annotators_page_flags_outliers(world):
    response = login(world["personas"]).get(_url("annotators", world))
    body = response.content.decode()
    assert body.count('class="outlier"') == 1 and "⚑ person 1" in body
    agreement = _svgs(response)[0]
    bars = agreement.findall(f".//{SVG}rect")
    assert len([b for b in bars if "bar" in b.get("class", "")]) == 3
    assert len([b for b in bars if b.get("class") == "hbar flagged"]) == 1


def test_discretion_page(world):
    response = login(world["personas"]).get(_url("discretion", world))
    body = response.content.decode()
    assert "0.500" in body  # human vs judge discrepancy
    svgs = _svgs(response)
    heat = next(s for s in svgs if s.find(f"{SVG}title").text.startswith("Principle supremacy"))
    cells = heat.findall(f".//{SVG}rect[@class='cell']")
    missing = heat.findall(f".//{SVG}rect[@class='cell missing']")
    assert len(cells) + len(missing) - 1 == 9  # the legend has one "no data" swatch
    assert len(cells) == 4
    ranks = response.context["d"]["groups"][0]["ranking"]
    assert [r["name"] for r in ranks] == ["harmless", "honest", "helpful"]


def test_run_audit_and_encode_buttons_start_jobs(world):
    client = login(world["personas"])
    for name, kind in (("run", "audit"), ("encode", "encode")):
        response = client.post(_url(name, world))
        job = Job.objects.filter(project=world["project"], kind=kind).first()
        if job is None:  # the service is not installed yet: the page says so
            assert response.status_code == 302 and response["Location"] == _url("overview", world)
            continue
        assert response["Location"] == reverse(
            "jobs:detail", kwargs={"slug": world["project"].slug, "job_uuid": job.uuid}
        )


def test_run_audit_counts_judges_only_when_ticked(world):
    """docs/algorithms.md#who-votes: people and imported labels vote; judges when the curator asks."""
    client = login(world["personas"])
    client.post(_url("run", world))
    client.post(_url("run", world), {"judges_vote": "1"})
    first, second = Job.objects.filter(project=world["project"], kind="audit").order_by("created_at", "id")
    assert first.params == {}
    assert second.params == {"voters": ["human", "imported", "model"]}


# --- services -------------------------------------------------------------------


def test_item_resolve_validates_per_kind(world):
    user = world["personas"]["curator"]
    with pytest.raises(ValidationError):
        item_resolve(item=world["disputed"], verdict="up", user=user)
    item_resolve(item=world["thumb"], verdict="down", note="", user=user)
    assert Item.objects.get(pk=world["thumb"].pk).resolution["choice"] == "down"
    with pytest.raises(ValidationError):
        item_resolve(item=world["thumb"], verdict="A", user=user)
    a, b, c = (str(r.uuid) for r in world["ranking"].ordered_responses())
    for bad in ([[a], [b]], [[a], [b], [a, c]], "A", [[a, b, c, "x"]]):
        with pytest.raises(ValidationError):
            item_resolve(item=world["ranking"], verdict=bad, user=user)
    item_resolve(item=world["ranking"], verdict=[[b], [a, c]], user=user)
    assert Item.objects.get(pk=world["ranking"].pk).resolution["ranking"] == [[b], [a, c]]
    judgment = make_item(world["project"], "judgment")
    with pytest.raises(ValidationError):
        item_resolve(item=judgment, verdict="A", user=user)


def test_item_request_more_caps_at_max_overlap_and_reopens(world):
    user = world["personas"]["curator"]
    item = world["calm"]  # overlap 2: two people's judgments (the judge's takes no slot) and an imported label
    imported = Annotator.objects.create(type=Annotator.Type.IMPORTED, name="imported:calm")
    annotation_record(item=item, annotator=imported, data=AnnotationInput(choice="A"))
    item.refresh_from_db()
    assert (item.annotation_count, item.status) == (3, Item.Status.DONE)
    item_request_more(item=item, extra=1, user=user)
    item.refresh_from_db()
    assert item.target_overlap == 3 and item.status == Item.Status.DONE  # 3 annotations meet 3
    item_request_more(item=item, extra=1, user=user)
    item.refresh_from_db()
    assert item.target_overlap == 4 and item.status == Item.Status.OPEN
    with pytest.raises(ValidationError, match="maximum overlap"):
        item_request_more(item=item, extra=1, user=user)
    off = make_item(ProjectFactory(overlap=2, max_overlap=0))
    with pytest.raises(ValidationError):
        item_request_more(item=off, user=user)
    with pytest.raises(ValidationError):
        item_request_more(item=item, extra=0, user=user)


# --- with the real audit ----------------------------------------------------------


def test_pages_render_a_real_audit_and_a_resolution_reaches_it(world):
    """Run the audit job on the fixture's annotations: every dashboard opens on
    what it stored, and a curator's verdict given on the page becomes the
    item's consensus in the next audit."""
    from curation.jobs.runner import run_job

    client = login(world["personas"])
    item = world["disputed"]
    client.post(_url("item-resolve", world, item_uuid=item.uuid), {"verdict": "B", "note": "checked"})
    job = audit_create(project=world["project"], user=world["personas"]["curator"], params={}, enqueue=False)
    run_job(job.id)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    audit = Audit.objects.filter(project=world["project"]).latest()
    assert audit.job_id == job.id
    row = ItemAudit.objects.get(audit=audit, item=item)
    assert row.consensus["choice"] == "B" and row.consensus["method"] == "resolution"
    assert "resolved" in row.flags
    for page in PAGES:
        response = client.get(_url(page, world))
        assert response.status_code == 200, page
        assert b"No audit yet" not in response.content
        for svg in _svgs(response):
            assert svg.tag == f"{SVG}svg"
    response = client.get(_url("disagreement", world))
    assert {r.item for r in response.context["page"].object_list} == {
        world[k] for k in ("disputed", "calm", "third", "thumb", "ranking")
    }
    body = client.get(_url("item", world, item_uuid=item.uuid)).content.decode()
    assert "resolved: B" in body and "checked" in body
