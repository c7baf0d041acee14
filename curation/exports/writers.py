"""Streaming writers: rows go out as they come, at most one row group is held.

Layout of an export folder (what ``datasets`` and the Hub expect)::

    DIR/README.md                            dataset card (YAML configs point at the Parquet files)
    DIR/manifest.json                        filters, counts, sha256 per file, time
    DIR/data/train-00000-of-00001.parquet
    DIR/data/train-00000-of-00001.jsonl
    DIR/data/test-00000-of-00001.parquet     when a test split was asked for
    DIR/data/test-00000-of-00001.jsonl

Load with ``datasets.load_dataset(DIR)`` (Parquet, through the card),
``load_dataset("parquet", data_files={"train": ".../train-*.parquet", ...})`` or
``load_dataset("json", data_files={"train": ".../train-*.jsonl", ...})``.

Byte-identical output for identical rows:

* JSONL: ``json.dumps(row, sort_keys=True, ensure_ascii=False)``, UTF-8, one
  row per line ending in ``\\n``; NaN is refused;
* Parquet: an explicit schema per format and options, a fixed compression
  (zstd level 3), dictionary encoding and statistics always on, row groups of
  exactly ``row_group_size`` rows (the last one shorter). Parquet footers hold
  no timestamp; ``created_by`` names the pyarrow version, so files are identical
  for one pyarrow version (the manifest records it).

The sha256 and size of each file are computed while writing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FILE_TYPES = ("parquet", "jsonl")
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


def shard_name(split: str, ext: str) -> str:
    return f"data/{split}-00000-of-00001.{ext}"


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative to the export folder
    split: str
    file_type: str
    rows: int
    bytes: int
    sha256: str

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "split": self.split,
            "type": self.file_type,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


def file_sha256(path: str | os.PathLike) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class JsonlWriter:
    file_type = "jsonl"

    def __init__(self, root: Path, split: str) -> None:
        self.root = root
        self.split = split
        self.rel = shard_name(split, "jsonl")
        path = root / self.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "wb")  # noqa: SIM115 (closed in close())
        self._sha = hashlib.sha256()
        self.rows = 0
        self.bytes = 0
        self._dumps = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False).encode

    def write(self, row: dict) -> None:
        data = (self._dumps(row) + "\n").encode("utf-8")
        self._fh.write(data)
        self._sha.update(data)
        self.rows += 1
        self.bytes += len(data)

    def close(self) -> FileInfo:
        self._fh.close()
        return FileInfo(self.rel, self.split, self.file_type, self.rows, self.bytes, self._sha.hexdigest())


class ParquetWriter:
    file_type = "parquet"

    def __init__(self, root: Path, split: str, schema: pa.Schema, row_group_size: int) -> None:
        self.root = root
        self.split = split
        self.rel = shard_name(split, "parquet")
        self.path = root / self.rel
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.row_group_size = row_group_size
        self._writer = pq.ParquetWriter(self.path, schema, **PARQUET_OPTIONS)
        self._buffer: list[dict] = []
        self.rows = 0

    def write(self, row: dict) -> None:
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= self.row_group_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._writer.write_table(table, row_group_size=self.row_group_size)
        self._buffer = []

    def close(self) -> FileInfo:
        self._flush()
        self._writer.close()
        sha, size = file_sha256(self.path)
        return FileInfo(self.rel, self.split, self.file_type, self.rows, size, sha)


class SplitWriters:
    """One writer per (split, file type); ``write(split, row)`` sends a row to each file of its split."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        splits: tuple[str, ...],
        schema: pa.Schema,
        row_group_size: int = 10_000,
        file_types: tuple[str, ...] = FILE_TYPES,
    ) -> None:
        unknown = [t for t in file_types if t not in FILE_TYPES]
        if unknown or not file_types:
            raise ValueError(f"file_types: {list(file_types)} must be a non-empty subset of {list(FILE_TYPES)}")
        self.root = Path(root)
        self.writers: dict[str, list] = {}
        for split in splits:
            group = []
            for file_type in FILE_TYPES:  # fixed order whatever order was asked
                if file_type not in file_types:
                    continue
                if file_type == "parquet":
                    group.append(ParquetWriter(self.root, split, schema, row_group_size))
                else:
                    group.append(JsonlWriter(self.root, split))
            self.writers[split] = group
        self.rows = dict.fromkeys(splits, 0)

    def write(self, split: str, row: dict) -> None:
        for writer in self.writers[split]:
            writer.write(row)
        self.rows[split] += 1

    def close(self) -> list[FileInfo]:
        return [w.close() for group in self.writers.values() for w in group]
