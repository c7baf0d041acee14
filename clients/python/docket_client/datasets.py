"""Exported datasets: download with sha256 checks, load into ``datasets``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .errors import ChecksumMismatch, DocketError
from .models import _time

if TYPE_CHECKING:
    from datasets import DatasetDict

    from .client import Client

CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetFile:
    name: str  # path inside the dataset folder, e.g. data/train-00000-of-00001.parquet
    split: str
    format: str  # jsonl or parquet
    rows: int
    bytes: int
    sha256: str
    url: str


def default_cache_dir() -> Path:
    """``$DOCKET_CACHE_DIR`` or ``~/.cache/docket``."""
    return Path(os.environ.get("DOCKET_CACHE_DIR") or Path.home() / ".cache" / "docket")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Dataset:
    """A versioned export: format, filters, files with sha256, manifest."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self._client = client
        self.raw = data
        self.id: str = data["id"]
        self.url: str = data["url"]
        self.project: str = data.get("project", "")
        self.name: str = data.get("name", "")
        self.format: str = data["format"]
        self.filters: dict[str, Any] = data.get("filters") or {}
        self.row_count: int = int(data.get("row_count") or 0)
        self.sha256: str = data.get("sha256", "")
        self.manifest: dict[str, Any] = data.get("manifest") or {}
        self.card_url: str = data.get("card", "")
        self.manifest_url: str = data.get("manifest_url", "")
        self.created_at: datetime | None = _time(data.get("created_at"))
        self.files: list[DatasetFile] = [
            DatasetFile(
                name=f["name"],
                split=f.get("split", ""),
                format=f.get("format", ""),
                rows=int(f.get("rows") or 0),
                bytes=int(f.get("bytes") or 0),
                sha256=f.get("sha256", ""),
                url=f["url"],
            )
            for f in data.get("files") or []
        ]

    def __repr__(self) -> str:
        return f"Dataset({self.id!r}, format={self.format!r}, rows={self.row_count}, name={self.name!r})"

    @property
    def splits(self) -> list[str]:
        return sorted({f.split for f in self.files})

    def download(self, directory: str | os.PathLike[str], *, file_format: str | None = None) -> dict[str, Path]:
        """Download the data files (``file_format`` ``"parquet"`` or ``"jsonl"``: only those), the card
        and the manifest into ``directory``, keeping the dataset's layout (``data/…``).

        Each data file is streamed to a temporary name, its sha256 checked against the
        one the dataset lists (``ChecksumMismatch`` otherwise, and the file is removed),
        then renamed into place; a file already there with the right sha256 is not
        downloaded again. Returns ``{name: path}``.
        """
        root = Path(directory)
        wanted = [f for f in self.files if file_format is None or f.format == file_format]
        if not wanted:
            raise DocketError(f"dataset {self.id} has no {file_format} files", code="no_files")
        paths: dict[str, Path] = {}
        for f in wanted:
            paths[f.name] = self._fetch(f.url, root / PurePosixPath(f.name), sha256=f.sha256)
        for name, url in (("README.md", self.card_url), ("manifest.json", self.manifest_url)):
            if url:
                paths[name] = self._fetch(url, root / name, sha256=None)
        return paths

    def _fetch(self, url: str, target: Path, *, sha256: str | None) -> Path:
        if sha256 and target.is_file() and _sha256(target) == sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        with self._client._http.stream("GET", url) as response:
            if response.status_code >= 400:
                from .errors import error_from_response

                response.read()
                raise error_from_response(response)
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes(CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
        if sha256 and digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{target.name}: sha256 {digest.hexdigest()} differs from the dataset's {sha256}", code="checksum"
            )
        partial.replace(target)
        return target

    def to_datasets(
        self, *, cache_dir: str | os.PathLike[str] | None = None, file_format: str = "parquet"
    ) -> DatasetDict:
        """The dataset as a ``datasets.DatasetDict`` (one split per file split), from verified
        downloads under ``cache_dir`` (default ``~/.cache/docket/datasets/<id>``). Needs the
        ``datasets`` extra. Parquet keeps the column types of every split alike."""
        try:
            import datasets
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_datasets() needs the datasets package: pip install 'docket-client[datasets]'"
            ) from exc
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "datasets" / self.id
        paths = self.download(folder, file_format=file_format)
        data_files: dict[str, list[str]] = {}
        for f in self.files:
            if f.format == file_format:
                data_files.setdefault(f.split, []).append(str(paths[f.name]))
        builder = "parquet" if file_format == "parquet" else "json"
        return datasets.load_dataset(builder, data_files=data_files)
