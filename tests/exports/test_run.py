"""export_run end to end: files, datasets loading, manifest, card, determinism."""

import hashlib
import json
from datetime import UTC, datetime

import datasets
import pyarrow.parquet as pq
import pytest

from curation.exports import FORMATS, ExportInputError, FilterSpec, export_run

from .builders import corpus

FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def run(tmp_path, fmt, name="out", **kw):
    kw.setdefault("filters", {"test_fraction": 0.3, "seed": 1})
    kw.setdefault("salt", "pepper")
    return export_run(iter(corpus()), fmt=fmt, out_dir=tmp_path / name, project="demo", **kw)


def load(result, kind, tmp_path):
    ext = "parquet" if kind == "parquet" else "jsonl"
    files = {s: str(result.out_dir / f"data/{s}-00000-of-00001.{ext}") for s in result.rows}
    return datasets.load_dataset(kind, data_files=files, cache_dir=str(tmp_path / "hf-cache"))


MESSAGES = datasets.List({"content": datasets.Value("string"), "role": datasets.Value("string")})


@pytest.mark.parametrize("kind", ["parquet", "json"])
def test_dpo_loads_with_datasets_with_message_columns(tmp_path, kind):
    result = run(tmp_path, "dpo", options={"extra_columns": ["margin", "ln_ches"]})
    ds = load(result, kind, tmp_path)
    assert set(ds) == {"train", "test"}
    assert {s: len(ds[s]) for s in ds} == result.rows
    assert result.rows["test"] > 0 and result.rows["train"] > 0
    feats = ds["train"].features
    for col in ("prompt", "chosen", "rejected"):
        assert feats[col] == MESSAGES, (col, feats[col])
    assert feats["margin"] == datasets.Value("float64")
    row = ds["train"][0]
    assert row["chosen"][0]["role"] == "assistant" and row["prompt"][-1]["role"] == "user"


@pytest.mark.parametrize("kind", ["parquet", "json"])
def test_kto_label_is_bool_and_plain_text_is_string(tmp_path, kind):
    result = run(tmp_path, "kto", options={"conversational": False})
    ds = load(result, kind, tmp_path)
    feats = ds["train"].features
    assert feats["label"] == datasets.Value("bool")
    assert feats["prompt"] == feats["completion"] == datasets.Value("string")
    assert sum(ds["train"]["label"]) == result.manifest["kto_balance"]["train"]["desirable"]


def test_every_format_loads_through_the_card(tmp_path):
    for fmt in FORMATS:
        result = run(tmp_path, fmt, name=fmt)
        ds = datasets.load_dataset(str(result.out_dir), cache_dir=str(tmp_path / "hf-cache"))
        assert {s: len(ds[s]) for s in ds} == result.rows, fmt
        from_json = load(result, "json", tmp_path)
        assert {s: len(from_json[s]) for s in from_json} == result.rows, fmt
        assert from_json["train"][0] == ds["train"][0], fmt
        assert result.rows_total > 0, fmt
        schema_names = [f.name for f in FORMATS[fmt]().schema()] if fmt != "raw" else None
        if schema_names:
            assert ds["train"].column_names == schema_names


def test_ranking_and_judgment_and_raw_types(tmp_path):
    ds = load(run(tmp_path, "ranking", name="r"), "parquet", tmp_path)
    assert ds["train"].features["scores"] == datasets.List(datasets.Value("float64"))
    assert ds["train"].features["responses"] == datasets.List(MESSAGES)
    for scores in ds["train"]["scores"]:
        assert scores == sorted(scores, reverse=True)
    ds = load(run(tmp_path, "judgment", name="j"), "parquet", tmp_path)
    nulls = [r for r in ds["train"]["corrected_response"] if r is None]
    assert nulls and len(nulls) < len(ds["train"])
    ds = load(run(tmp_path, "raw", name="w"), "parquet", tmp_path)
    assert ds["train"].features["consistent"] == datasets.Value("bool")
    assert ds["train"].features["strength"] == datasets.Value("int64")


def test_manifest_counts_hashes_and_filters(tmp_path):
    filters = FilterSpec(test_fraction=0.3, seed=1, voters="human", min_judgments=1)
    result = run(tmp_path, "dpo", filters=filters)
    m = json.loads((result.out_dir / "manifest.json").read_text())
    assert m["project"] == "demo" and m["format"] == "dpo"
    assert m["rows"] == result.rows and m["rows_total"] == sum(result.rows.values())
    for f in m["files"]:
        data = (result.out_dir / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
        assert f["rows"] == m["rows"][f["split"]]
        if f["type"] == "jsonl":
            assert data.count(b"\n") == f["rows"]
    report = {r["name"]: r["removed"] for r in m["filter_report"]}
    # 12 prompts x 1 model judgment on the pw*b items
    assert report == {"excluded": 0, "voters": 12, "min_judgments": 0}
    dropped = {d["reason"]: d["count"] for d in m["dropped_by_format"]}
    assert dropped["pairwise_tie"] == 3 and dropped["pairwise_both_bad"] == 3
    assert m["code_version"] and m["created_at"]
    # the prompts of the two splits are disjoint
    train, test = (load(result, "json", tmp_path)[s]["prompt"] for s in ("train", "test"))
    assert not {json.dumps(p) for p in train} & {json.dumps(p) for p in test}
    card = (result.out_dir / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n- config_name: default\n")
    assert "voters | 12 | judgments" in card and "pairwise_tie | 3" in card


def test_hand_counted_dpo_rows(tmp_path):
    result = run(tmp_path, "dpo", filters={})
    # per prompt k (12): pw*a A wins, pw*b B wins (the model's inconsistent A vote ignored) -> 24;
    # rankings for k in 0,3,6,9: Borda per vote 0:3,3 1:1.5,2 2:1.5,0.5 3:0,0.5
    #   -> means 3, 1.75, 1, 0.25: 4 groups, all pairs 6 -> 24; thumbs up x down for even k (6) -> 6;
    # corrections for odd k (6) -> 6.
    assert result.rows == {"train": 24 + 24 + 6 + 6}
    adjacent = run(tmp_path, "dpo", name="adj", filters={}, options={"ranking_pairs": "adjacent"})
    assert adjacent.rows == {"train": 24 + 4 * 3 + 6 + 6}


def test_same_data_same_bytes(tmp_path):
    runs = {}
    for fmt in ("dpo", "kto", "raw"):
        a = run(tmp_path, fmt, name=f"{fmt}-a", options={"row_group_size": 7})
        b = run(tmp_path, fmt, name=f"{fmt}-b", options={"row_group_size": 7})
        assert [(f.path, f.sha256) for f in a.files] == [(f.path, f.sha256) for f in b.files]
        assert (a.out_dir / "README.md").read_bytes() == (b.out_dir / "README.md").read_bytes()
        ma, mb = a.manifest.copy(), b.manifest.copy()
        ma.pop("created_at"), mb.pop("created_at")
        assert ma == mb
        runs[fmt] = a
    fixed = run(tmp_path, "dpo", name="t1", created_at=FIXED_TIME)
    assert fixed.manifest["created_at"] == "2026-01-01T00:00:00+00:00"
    other_salt = run(tmp_path, "raw", name="raw-c", salt="other", options={"row_group_size": 7})
    assert other_salt.files[0].sha256 != runs["raw"].files[0].sha256  # pseudonyms depend on the salt


def test_parquet_row_groups_and_streaming_input(tmp_path):
    consumed = []

    def items():
        for item in corpus():
            consumed.append(item.id)
            yield item

    progress = []
    result = export_run(
        items(),
        fmt="kto",
        out_dir=tmp_path / "o",
        options={"row_group_size": 5},
        progress=progress.append,
        progress_every=10,
    )
    assert len(consumed) == len(corpus())  # read exactly once
    meta = pq.ParquetFile(result.out_dir / "data/train-00000-of-00001.parquet").metadata
    assert meta.num_rows == result.rows["train"]
    assert meta.num_row_groups == -(-result.rows["train"] // 5)
    assert progress[-1] == len(consumed) and progress[0] == 10
    assert b"created" not in (meta.metadata or {}).get(b"ARROW:schema", b"")


def test_input_errors(tmp_path):
    items = corpus()
    shuffled = items[:3] + items[10:] + items[3:10]  # prompt p00 comes back
    with pytest.raises(ExportInputError, match="grouped by prompt"):
        export_run(iter(shuffled), fmt="dpo", out_dir=tmp_path / "a")
    # formats that do not combine items accept any order
    export_run(iter(shuffled), fmt="raw", out_dir=tmp_path / "b", salt="s")
    with pytest.raises(ExportInputError, match="not empty"):
        export_run(iter(items), fmt="raw", out_dir=tmp_path / "b", salt="s")
    with pytest.raises(ExportInputError, match="format"):
        export_run(iter(items), fmt="csv", out_dir=tmp_path / "c")
    with pytest.raises(ExportInputError, match="options.ranking_pairs"):
        export_run(iter(items), fmt="dpo", out_dir=tmp_path / "d", options={"ranking_pairs": "some"})
    with pytest.raises(ExportInputError, match="salt"):
        export_run(iter(items), fmt="raw", out_dir=tmp_path / "e")


def test_ches_filter_through_export_run(tmp_path):
    items = corpus()
    scores = [(i.id, i.ln_ches) for i in items if i.kind == "pairwise"]
    result = export_run(
        iter(items),
        fmt="dpo",
        out_dir=tmp_path / "o",
        filters={"ches_keep_lowest_fraction": 0.25, "ches_unscored": "drop"},
        ches_scores=scores,
        options={"dpo_sources": ["pairwise"], "extra_columns": ["ln_ches"]},
    )
    # 12 scored pw*a items (0.0 .. 1.1): lowest 25% = 3 kept; every other pairwise item is unscored: dropped
    assert result.rows == {"train": 3}
    report = {r["name"]: r["removed"] for r in result.manifest["filter_report"]}
    assert report["ches"] == len([i for i in items if i.kind == "pairwise"]) - 3


def test_empty_split_is_not_written_so_datasets_can_load(tmp_path):
    from .builders import pairwise, prompt

    items = [pairwise("i1", prompt("p1"), "a", "b", ["A"])]
    result = export_run(iter(items), fmt="dpo", out_dir=tmp_path / "o", filters={"test_fraction": 0.01})
    assert result.rows == {"train": 1} and result.manifest["empty_splits"] == ["test"]
    assert sorted(p.name for p in (tmp_path / "o/data").iterdir()) == [
        "train-00000-of-00001.jsonl",
        "train-00000-of-00001.parquet",
    ]
    assert "test" not in (tmp_path / "o/README.md").read_text().split("---")[1]
    for kind in ("parquet", "json"):
        assert len(load(result, kind, tmp_path)["train"]) == 1
    assert len(datasets.load_dataset(str(result.out_dir), cache_dir=str(tmp_path / "c"))["train"]) == 1
    # nothing usable at all: the train files stay, with zero rows and the format's schema
    nothing = export_run(
        iter([pairwise("i2", prompt("p2"), "a", "b", ["tie"])]),
        fmt="dpo",
        out_dir=tmp_path / "n",
        filters={"test_fraction": 0.5},
    )
    assert nothing.rows == {"train": 0} and len(nothing.files) == 2
    assert pq.read_table(nothing.out_dir / "data/train-00000-of-00001.parquet").column_names == [
        "prompt",
        "chosen",
        "rejected",
    ]
