"""The export job: options checked up front, files + Dataset written together, nothing half-written."""

from __future__ import annotations

import json
import uuid

import datasets
import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from curation.exports import runner as exporting
from curation.exports.selectors import dataset_file_path, datasets_for_project
from curation.exports.services import export_create
from curation.jobs.lifecycle import job_cancel
from curation.jobs.runner import run_job
from curation.models import AnnotatorAudit, Audit, Dataset, ItemAudit, Job

from .db_builders import export_dir_fixture, small_project

pytestmark = pytest.mark.django_db


export_dir = pytest.fixture(export_dir_fixture, name="export_dir")


def export(project, fmt="dpo", **options) -> Job:
    return run_job(
        export_create(project=project, user=None, params={"format": fmt, "options": options}, enqueue=False).pk
    )


def data_files(dataset: Dataset, file_format: str) -> dict[str, str]:
    return {
        f["split"]: str(dataset_file_path(dataset=dataset, name=f["name"]))
        for f in dataset.files
        if f["format"] == file_format
    }


def test_job_writes_a_dataset_that_loads_and_is_identical_on_a_second_export(project, export_dir, tmp_path):
    small_project(project)
    job = export(project, "dpo", test_fraction=0.5, seed=3, extra_columns=["margin"], name="first")
    assert job.status == Job.Status.SUCCEEDED, job.error
    dataset = job.dataset
    assert job.result["dataset"] == str(dataset.uuid) and job.result["rows"] == dataset.row_count == 6
    assert job.progress_total == 7 and job.progress_done == 7  # items read, probes left out
    assert (dataset.project, dataset.format, dataset.name, dataset.path) == (project, "dpo", "first", str(dataset.uuid))
    assert dataset.filters["test_fraction"] == 0.5 and dataset.filters["exclude_excluded"] is True
    folder = export_dir / dataset.path
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "data", "manifest.json"]
    assert {(f["format"], f["split"]) for f in dataset.files} == {
        (t, s) for t in ("jsonl", "parquet") for s in dataset.manifest["rows"]
    }
    for f in dataset.files:
        assert f["bytes"] == (folder / f["name"]).stat().st_size
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["dataset"] == str(dataset.uuid) and manifest["project"] == project.slug
    assert manifest == dataset.manifest
    cache = str(tmp_path / "hf")
    features = None
    for kind, file_format in (("parquet", "parquet"), ("json", "jsonl")):
        # JSON gets the Parquet schema: inferred per file, a column that is null throughout one split
        # (margin, when a split holds only corrections) would not match the other split's doubles.
        ds = datasets.load_dataset(
            kind, data_files=data_files(dataset, file_format), cache_dir=cache, features=features
        )
        features = ds[next(iter(ds))].features
        assert sum(len(ds[s]) for s in ds) == 6
        for split in ds:  # prompts are split by a hash of their (random) uuid: either split may be missing
            assert set(ds[split].column_names) == {"prompt", "chosen", "rejected", "margin"}

    again = export(project, "dpo", test_fraction=0.5, seed=3, extra_columns=["margin"], name="second")
    second = again.dataset
    assert second.uuid != dataset.uuid and second.sha256 == dataset.sha256
    assert [(f["name"], f["sha256"]) for f in second.files] == [(f["name"], f["sha256"]) for f in dataset.files]
    for f in dataset.files:
        assert (folder / f["name"]).read_bytes() == (export_dir / second.path / f["name"]).read_bytes()
    assert list(datasets_for_project(project=project)) == [second, dataset]
    # Other options, other files.
    assert export(project, "dpo", test_fraction=0.5, seed=3).dataset.sha256 != dataset.sha256  # no margin column


@pytest.mark.parametrize("fmt", ["kto", "ranking", "judgment", "sft", "raw"])
def test_every_format_exports_through_the_job(project, export_dir, fmt, tmp_path):
    small_project(project)
    job = export(project, fmt)
    assert job.status == Job.Status.SUCCEEDED, job.error
    ds = datasets.load_dataset("parquet", data_files=data_files(job.dataset, "parquet"), cache_dir=str(tmp_path / "h"))
    assert len(ds["train"]) == job.dataset.row_count > 0
    if fmt == "raw":
        # Annotators are pseudonymised: no annotator uuid appears in the file.
        text = (export_dir / job.dataset.path / "data/train-00000-of-00001.jsonl").read_text()
        from annotate.models import Annotator

        assert not any(str(a.uuid) in text for a in Annotator.objects.all())
        assert export(project, "raw").dataset.sha256 == job.dataset.sha256


@pytest.mark.parametrize(
    ("fmt", "options", "field"),
    [
        ("csv", {}, "format"),
        ("dpo", {"min_agreement": 2}, "min_agreement"),
        ("dpo", {"min_agreement": "high"}, "min_agreement"),
        ("dpo", {"min_judgments": -1}, "min_judgments"),
        ("dpo", {"test_fraction": 1}, "test_fraction"),
        ("dpo", {"annotator_types": "robots"}, "annotator_types"),
        ("dpo", {"voters": "human,robots"}, "voters"),
        ("dpo", {"ches_drop_above_quantile": 0.9, "ches_keep_lowest_fraction": 0.5}, "ches_drop_above_quantile"),
        ("dpo", {"ches_measure": "size"}, "ches_measure"),
        ("kto", {"kto_ties": "maybe"}, "kto_ties"),
        ("dpo", {"extra_columns": ["colour"]}, "extra_columns"),
        ("dpo", {"exclude_flagged_annotators": "perhaps"}, "exclude_flagged_annotators"),
        ("dpo", {"no_such_option": 1}, "no_such_option"),
        ("dpo", {"row_group_size": 0}, "row_group_size"),
    ],
)
def test_bad_options_are_refused_naming_the_field(project, fmt, options, field):
    with pytest.raises(ValidationError) as caught:
        export_create(project=project, user=None, params={"format": fmt, "options": options}, enqueue=False)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert not Job.objects.exists()


def test_options_from_forms_are_coerced_and_stored_normalised(project):
    job = export_create(
        project=project,
        user=None,
        params={
            "format": "dpo",
            "options": {
                "min_agreement": "0.5",
                "min_judgments": "2",
                "exclude_flagged_annotators": "true",
                "dpo_sources": "pairwise,ranking",
            },
        },
        enqueue=False,
    )
    options = job.params["options"]
    assert job.params["format"] == "dpo" and job.kind == "export"
    assert (options["min_agreement"], options["min_judgments"], options["exclude_flagged_annotators"]) == (0.5, 2, True)
    assert options["dpo_sources"] == ["pairwise", "ranking"] and options["exclude_excluded"] is True


def interrupt_reader(monkeypatch, at: int, action) -> None:
    """The export's reader calls ``action()`` before handing over record number ``at``."""
    real = exporting.items_for_export

    def reader(**kw):
        for n, item in enumerate(real(**kw)):
            if n == at:
                action()
            yield item

    monkeypatch.setattr(exporting, "items_for_export", reader)


def test_a_failure_leaves_no_dataset_and_no_files(project, export_dir, monkeypatch):
    small_project(project)

    def fail():
        raise RuntimeError("database went away")

    interrupt_reader(monkeypatch, 3, fail)
    job = export(project)
    assert job.status == Job.Status.FAILED and "database went away" in job.error
    assert not Dataset.objects.exists()
    assert list(export_dir.iterdir()) == []


def test_a_cancel_during_the_export_leaves_nothing(project, export_dir, monkeypatch):
    small_project(project)
    interrupt_reader(monkeypatch, 2, lambda: job_cancel(job=Job.objects.get(kind="export")))
    monkeypatch.setattr(exporting, "PROGRESS_EVERY_MIN", 1)
    job = export(project)
    assert job.status == Job.Status.CANCELLED
    assert not Dataset.objects.exists() and list(export_dir.iterdir()) == []


def test_a_redelivered_job_returns_its_dataset_and_a_dead_run_is_cleaned_up(project, export_dir):
    small_project(project)
    job = export_create(project=project, user=None, params={"format": "sft", "options": {}}, enqueue=False)
    # A run that died: its checkpoint names the dataset, its half-written folder is still there.
    leftover = uuid.uuid4()
    Job.objects.filter(pk=job.pk).update(checkpoint={"dataset": str(leftover)})
    partial = export_dir / f".partial-{leftover}"
    (partial / "data").mkdir(parents=True)
    (partial / "data/train-00000-of-00001.jsonl").write_text("half a row")
    ended = run_job(job.pk)
    assert ended.status == Job.Status.SUCCEEDED, ended.error
    assert ended.dataset.uuid == leftover and not partial.exists()
    assert sorted(p.name for p in export_dir.iterdir()) == [str(leftover)]
    # Delivered again (say the ack was lost): the same dataset, no second one.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    again = run_job(job.pk)
    assert again.status == Job.Status.SUCCEEDED and again.result["dataset"] == str(leftover)
    assert Dataset.objects.count() == 1


def test_dataset_file_path_refuses_anything_but_the_listed_files(project, export_dir):
    small_project(project)
    dataset = export(project).dataset
    folder = (export_dir / dataset.path).resolve()
    assert dataset_file_path(dataset=dataset, name="README.md") == folder / "README.md"
    assert dataset_file_path(dataset=dataset, name="manifest.json") == folder / "manifest.json"
    name = dataset.files[0]["name"]
    assert dataset_file_path(dataset=dataset, name=name) == folder / name
    (export_dir / "secret.txt").write_text("no")
    for bad in ("../secret.txt", "/etc/passwd", "data/../../secret.txt", "data", "", "data/nothing.jsonl"):
        with pytest.raises(Http404):
            dataset_file_path(dataset=dataset, name=bad)
    # A tampered path pointing outside the export folder is refused too.
    dataset.path = "../"
    with pytest.raises(Http404):
        dataset_file_path(dataset=dataset, name="README.md")


def report_of(job) -> dict[str, int]:
    return {f["name"]: f["removed"] for f in job.dataset.manifest["filter_report"]}


def test_filters_use_the_latest_audit(project, export_dir):
    p = small_project(project)
    audit = Audit.objects.create(project=project)
    AnnotatorAudit.objects.create(audit=audit, annotator=p["h3"], outlier=True)
    ItemAudit.objects.create(
        audit=audit, item=p["pw"], flags=["swap_inconsistent"], details={"swap_inconsistent": [str(p["a1"].uuid)]}
    )
    ItemAudit.objects.create(
        audit=audit, item=p["tie"], flags=["transitivity"], details={"transitivity": [str(p["h1"].uuid)]}
    )
    ItemAudit.objects.create(audit=audit, item=p["pw"].__class__.objects.get(pk=p["resolved"].pk), ln_ches=0.9)
    ItemAudit.objects.filter(audit=audit, item=p["pw"]).update(ln_ches=0.1)

    job = export(project, "raw", exclude_flagged_annotators=True)
    assert report_of(job)["flagged_annotators"] == 1  # h3's one judgment
    assert job.dataset.manifest["audit"]["flagged_annotators"] == 1
    job = export(project, "raw", drop_swap_inconsistent=True, voters="human,imported,model")  # the judge too
    assert report_of(job)["swap_inconsistent"] == 2  # a1 (the audit) + the judge's own inconsistent judgment
    job = export(project, "raw", drop_intransitive=True)
    assert report_of(job)["intransitive"] == 1
    # CHES: keep the lowest half of the two scored pairwise items: pw stays, resolved goes.
    job = export(project, "dpo", ches_keep_lowest_fraction=0.5, conversational=False)
    assert report_of(job)["ches"] == 1
    chosen = {
        json.loads(line)["chosen"]
        for line in (export_dir / job.dataset.path / "data/train-00000-of-00001.jsonl").open()
    }
    assert "good answer" in chosen and "right" not in chosen
    # min_judgments / min_agreement / human only.
    job = export(project, "raw", voters="human", min_judgments=2, min_agreement=0.9)
    report = report_of(job)
    assert report["voters"] == 1 and report["min_judgments"] > 0 and report["min_agreement"] > 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_job_runs_on_a_real_worker(export_dir, live_worker):
    from tests.factories import ProjectFactory

    # export_dir comes first: the worker starts with DOCKET_EXPORT_DIR already pointing at it.
    project = ProjectFactory()
    small_project(project)
    with transaction.atomic():
        job = export_create(project=project, user=None, params={"format": "dpo", "options": {"test_fraction": 0.5}})
    live_worker.wait_for(
        lambda: Job.objects.filter(pk=job.pk, status__in=Job.ENDED).exists(), timeout=120, what="the job to end"
    )
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress_done == job.progress_total == 7
    dataset = job.dataset
    assert all(dataset_file_path(dataset=dataset, name=f["name"]).is_file() for f in dataset.files)
    assert dataset_file_path(dataset=dataset, name="README.md").parent == (export_dir / dataset.path).resolve()


def test_filters_read_what_the_real_audit_wrote(project, export_dir):
    from curation.audit.services import audit_create

    p = small_project(project)  # h1 said A on pw and B on its A/B-swapped repeat
    audit_job = run_job(audit_create(project=project, user=None, params={}, enqueue=False).pk)
    assert audit_job.status == Job.Status.SUCCEEDED, audit_job.error
    item_audit = ItemAudit.objects.get(audit__project=project, item=p["pw"])
    assert str(p["a1"].uuid) in item_audit.details.get("swap_inconsistent", []), item_audit.details
    job = export(project, "raw", drop_swap_inconsistent=True)
    assert job.dataset.manifest["audit"]["swap_inconsistent"] >= 1
    text = (export_dir / job.dataset.path / "data/train-00000-of-00001.jsonl").read_text()
    kept = {json.loads(line)["judgment_id"] for line in text.splitlines()}
    assert str(p["a1"].uuid) not in kept and str(p["a2"].uuid) in kept
    assert str(p["a4"].uuid) not in kept  # the judge's own inconsistent judgment


def test_an_empty_project_exports_an_empty_train_split(project, export_dir):
    job = export(project, "kto")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.dataset.row_count == 0 and job.progress_total == 0
    assert {(f["split"], f["rows"]) for f in job.dataset.files} == {("train", 0)}
    assert dataset_file_path(dataset=job.dataset, name="README.md").read_text().startswith("---")
