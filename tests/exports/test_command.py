"""``manage.py export_dataset``: the same job, files copied to --out, bad options named."""

from __future__ import annotations

import io
import json

import datasets
import pytest
from django.core.management import CommandError, call_command

from curation.models import Dataset, Job

from .db_builders import export_dir_fixture, small_project

pytestmark = pytest.mark.django_db


export_dir = pytest.fixture(export_dir_fixture, name="export_dir")


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_dataset", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_exports_into_out_with_filters(project, export_dir, tmp_path):
    small_project(project)
    out_dir = tmp_path / "out"
    stdout, _ = run(
        project.slug, "--format", "dpo", "--out", str(out_dir), "--test-fraction", "0.5", "--seed", "3",
        "--min-judgments", "1", "--extra-columns", "margin,agreement", "--plain", "--quiet",
    )  # fmt: skip
    dataset = Dataset.objects.get()
    assert str(dataset.uuid) in stdout and f"{dataset.row_count} dpo rows" in stdout
    assert sorted(p.name for p in out_dir.iterdir()) == ["README.md", "data", "manifest.json"]
    for f in dataset.files:
        assert (out_dir / f["name"]).read_bytes() == (export_dir / dataset.path / f["name"]).read_bytes()
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["filters"]["test_fraction"] == 0.5 and manifest["filters"]["min_judgments"] == 1
    assert manifest["options"]["conversational"] is False
    assert manifest["options"]["extra_columns"] == ["margin", "agreement"]
    parquet = {f["split"]: str(out_dir / f["name"]) for f in dataset.files if f["format"] == "parquet"}
    features = datasets.load_dataset("parquet", data_files=parquet, cache_dir=str(tmp_path / "hf"))
    features = features[next(iter(features))].features  # JSON alone infers a null type for an all-null split
    files = {f["split"]: str(out_dir / f["name"]) for f in dataset.files if f["format"] == "jsonl"}
    ds = datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path / "hf"), features=features)
    assert sum(len(ds[s]) for s in ds) == dataset.row_count == 6
    split = next(iter(ds))  # prompts are split by a hash of their (random) uuid: either split may be empty
    assert isinstance(ds[split][0]["chosen"], str)
    assert "| min_judgments |" in (out_dir / "README.md").read_text()


def test_command_shows_progress_and_switches(project, export_dir, tmp_path):
    small_project(project)
    _, stderr = run(project.slug, "--format", "raw", "--out", str(tmp_path / "o"), "--include-excluded",
                    "--annotators", "human", "--exclude-flagged-annotators")  # fmt: skip
    assert "export" in stderr and "7/7" in stderr  # the tqdm bar: items read of the total
    dataset = Dataset.objects.get()
    assert dataset.filters["exclude_excluded"] is False and dataset.filters["voters"] == ["human", "imported"]
    assert dataset.filters["exclude_flagged_annotators"] is True


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--min-agreement", "lots"], "--min-agreement"),
        (["--min-agreement", "1.5"], "--min-agreement"),
        (["--test-fraction", "1"], "--test-fraction"),
        (["--annotators", "aliens"], "--annotators"),
        (["--voters", "human,aliens"], "--voters"),
        (["--kto-ties", "sometimes"], "--kto-ties"),
        (["--ches-drop-above-quantile", "0.9", "--ches-keep-lowest-fraction", "0.1"], "--ches-drop-above-quantile"),
        (["--row-group-size", "0"], "--row-group-size"),
    ],
)
def test_bad_options_exit_naming_the_option(project, export_dir, tmp_path, args, named):
    with pytest.raises(CommandError) as caught:
        run(project.slug, "--format", "kto", "--out", str(tmp_path / "o"), *args)
    assert named in str(caught.value)
    assert not Job.objects.exists() and not (tmp_path / "o").exists()


def test_bad_project_format_or_out_folder(project, export_dir, tmp_path):
    with pytest.raises(CommandError, match="no project"):
        run("nope", "--format", "dpo", "--out", str(tmp_path / "o"))
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    with pytest.raises(CommandError, match="--out"):
        run(project.slug, "--format", "dpo", "--out", str(full))
    # argparse refuses an unknown format, naming --format.
    with pytest.raises(CommandError, match="--format"):
        run(project.slug, "--format", "csv", "--out", str(tmp_path / "o"))
