"""The export option ``drop_split_principle`` (docs/algorithms.md#principle-ambiguity):
items whose verdicts on the chosen principle split are dropped, counted in the
manifest's filter report, and the principle is recorded in the manifest."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Principle
from curation.exports.filters import FilterSpec, PrincipleSplit
from curation.exports.options import EXPORT_OPTIONS, export_options_clean
from curation.exports.services import export_create
from curation.jobs.runner import run_job
from curation.models import Job
from tests.factories import make_verdict

from .builders import pairwise, prompt
from .db_builders import export_dir_fixture, small_project

pytestmark = pytest.mark.django_db

export_dir = pytest.fixture(export_dir_fixture, name="export_dir")


def export(project, fmt="raw", **options) -> Job:
    job = run_job(
        export_create(project=project, user=None, params={"format": fmt, "options": options}, enqueue=False).pk
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


def _verdicts(principle, pairs):
    for annotation, verdict in pairs:
        make_verdict(annotation=annotation, principle=principle, verdict=verdict)


@pytest.fixture
def split_world(project):
    p = small_project(project)  # pw: h1 A, h2 A, h3 B, the judge B (inconsistent); resolved: h1 A
    harmless = Principle.objects.create(project=project, name="harmless", position=0)
    honest = Principle.objects.create(project=project, name="honest", position=1)
    _verdicts(harmless, [(p["a1"], "A"), (p["a2"], "A"), (p["a3"], "A"), (p["a4"], "B")])  # split only by the judge
    tie_votes = list(p["tie"].annotations.order_by("id"))
    _verdicts(harmless, [(tie_votes[0], "A"), (tie_votes[1], "na")])  # two people split
    _verdicts(honest, [(p["a1"], "A"), (p["a2"], "A")])  # nobody splits
    return {**p, "harmless": harmless, "honest": honest}


def _kept_items(job, export_dir) -> set[str]:
    text = (export_dir / job.dataset.path / "data/train-00000-of-00001.jsonl").read_text()
    return {json.loads(line)["item_id"] for line in text.splitlines()}


def _removed(job) -> dict[str, int]:
    return {f["name"]: f["removed"] for f in job.dataset.manifest["filter_report"]}


def test_split_items_are_dropped_and_the_manifest_says_so(project, export_dir, split_world):
    w = split_world
    everyone = ["human", "imported", "model"]
    everything = _kept_items(export(project, voters=everyone), export_dir)
    # every annotator's verdicts: the judge splits pw, the two people split tie
    job = export(project, voters=everyone, drop_split_principle="harmless")
    kept = _kept_items(job, export_dir)
    assert kept == everything - {str(w["pw"].uuid), str(w["tie"].uuid)}
    assert _removed(job)["principle_split"] == 2
    manifest = job.dataset.manifest
    assert manifest["principle_split"] == {"principle": {"id": w["harmless"].pk, "name": "harmless"}, "split_items": 2}
    assert manifest["export_settings"]["drop_split_principle"] == "harmless"
    assert job.dataset.filters["drop_split_principle"] == "harmless"
    reason = next(f["reason"] for f in manifest["filter_report"] if f["name"] == "principle_split")
    assert "'harmless'" in reason
    # by id, with the default voters (people and imported labels): the judge's verdict no longer splits pw
    job = export(project, drop_split_principle=str(w["harmless"].pk))
    assert str(w["tie"].uuid) not in _kept_items(job, export_dir)
    assert str(w["pw"].uuid) in _kept_items(job, export_dir)
    assert job.dataset.manifest["principle_split"]["split_items"] == 1
    # a principle nobody splits on drops nothing; without the option there is no such filter
    assert _removed(export(project, voters=everyone, drop_split_principle="honest"))["principle_split"] == 0
    plain = export(project)
    assert "principle_split" not in _removed(plain) and "principle_split" not in plain.dataset.manifest


def test_an_unknown_principle_is_refused_naming_the_option(project, split_world):
    with pytest.raises(ValidationError) as caught:
        export_create(project=project, user=None, params={"format": "dpo", "options": {"drop_split_principle": "kind"}})
    message = caught.value.message_dict["drop_split_principle"][0]
    assert "'kind'" in message and "harmless, honest" in message
    assert not Job.objects.exists()
    with pytest.raises(ValidationError) as caught:
        export_options_clean(fmt="dpo", options={"drop_split_principle": "x" * 101})
    assert "drop_split_principle" in caught.value.message_dict


def test_the_option_is_defined_once_and_defaults_to_off():
    spec = EXPORT_OPTIONS["drop_split_principle"]
    assert spec.kind == "str" and spec.default == ""
    assert export_options_clean(fmt="dpo", options={})["drop_split_principle"] == ""
    assert export_options_clean(fmt="dpo", options={"drop_split_principle": " harmless "})["drop_split_principle"] == (
        "harmless"
    )


def test_the_filter_on_records():
    spec = FilterSpec(principle_split=["i1"], principle_split_name="harmless")
    pipeline = spec.build()
    assert [type(f) for f in pipeline.filters if isinstance(f, PrincipleSplit)]
    records = [pairwise(i, prompt("p1"), "yes", "no", ["A"]) for i in ("i1", "i2")]
    kept = [r.id for r in map(pipeline, records) if r is not None]
    assert kept == ["i2"]
    assert spec.to_dict()["principle_split"] == 1  # ids stay private, the count goes in the manifest


def test_the_datasets_page_offers_the_principles_and_counts_what_the_export_drops(
    project, export_dir, split_world, personas
):
    from django.test import Client
    from django.urls import reverse

    from curation.exports.runner import export_preview

    everyone = ["human", "imported", "model"]
    preview = export_preview(
        project=project, fmt="raw", options={"voters": everyone, "drop_split_principle": "harmless"}
    )
    job = export(project, voters=everyone, drop_split_principle="harmless")
    assert preview.rows_total == job.dataset.row_count
    assert (
        {f["name"]: f["removed"] for f in preview.filter_report}["principle_split"]
        == 2
        == _removed(job)["principle_split"]
    )

    client = Client()
    client.force_login(personas["researcher"])
    page = client.get(reverse("datasets:list", args=[project.slug])).content.decode()
    select = page[page.index('name="drop_split_principle"') :].split("</select>")[0]
    assert '<option value="harmless">' in select and '<option value="honest">' in select
    count = reverse("datasets:count", args=[project.slug])
    ticked = {name: "on" for name, spec in EXPORT_OPTIONS.items() if spec.kind == "bool" and spec.default}  # as shown
    query = {"format": "raw", "voters": everyone, "drop_split_principle": "harmless", **ticked}
    body = client.get(count, query).content.decode()
    assert f'data-rows="{preview.rows_total}"' in body
    refused = client.get(count, {"format": "dpo", "drop_split_principle": "kind"})
    assert refused.status_code == 422 and "no principle &#x27;kind&#x27;" in refused.content.decode()


def test_a_principle_deleted_after_the_launch_fails_the_job_naming_it(project, export_dir, split_world):
    job = export_create(
        project=project,
        user=None,
        params={"format": "dpo", "options": {"drop_split_principle": "honest"}},
        enqueue=False,
    )
    split_world["honest"].delete()
    job = run_job(job.pk)
    assert job.status == Job.Status.FAILED
    assert "drop_split_principle" in job.error and "'honest'" in job.error


def test_the_manifest_records_the_principle_versions(project, export_dir, split_world):
    """Issue 19, point 5: every principle's versions, their wording and the verdicts under each."""
    from curation.projects.services import principle_update

    w = split_world
    principle_update(principle=w["harmless"], description="No harm to people.", user=None)
    make_verdict(annotation=w["tie"].annotations.order_by("id")[0], principle=w["honest"], verdict="A")
    manifest = export(project).dataset.manifest
    by_name = {p["name"]: p for p in manifest["principle_versions"]}
    harmless = by_name["harmless"]
    assert (harmless["id"], harmless["version"], harmless["retired"]) == (w["harmless"].pk, 2, False)
    assert [(v["number"], v["description"], v["verdicts"]) for v in harmless["versions"]] == [
        (1, "", 6),  # the six verdicts above were given under version 1
        (2, "No harm to people.", 0),
    ]
    assert [(v["number"], v["verdicts"]) for v in by_name["honest"]["versions"]] == [(1, 3)]
