"""Dataset downloads, the datasets page's and the API's: one file (:func:`dataset_file_response`,
ETag = its sha256) or the whole dataset as one uncompressed ``.tar``, streamed
(:func:`dataset_archive_response`, ``GET /api/v1/datasets/<uuid>/archive/``).

The archive holds the files :func:`~curation.exports.selectors.dataset_file_names`
lists (data files, ``README.md``, ``manifest.json``) under one folder named
after the dataset, so ``tar xf`` gives a folder ``datasets.load_dataset``
reads. Its bytes are a function of the dataset alone (each member's mtime is
the dataset's creation time, owner root, mode 0644): its length is known
before the first byte (``Content-Length``) and its ETag is stable. A dataset's
files never change after the export committed them.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.http import FileResponse, HttpResponse, StreamingHttpResponse

from curation.exports.selectors import dataset_file_names, dataset_file_path
from curation.exports.writers import file_sha256
from curation.models import Dataset

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240: tar files end padded to a whole record
CHUNK = 1 << 20

# Media types of the files in an export folder, by extension.
MEDIA_TYPES = {
    ".jsonl": "application/jsonl",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
}


@dataclass(frozen=True)
class DatasetArchive:
    filename: str
    folder: str
    members: list[tuple[tarfile.TarInfo, Path]]
    size: int
    etag: str

    def chunks(self) -> Iterator[bytes]:
        """The tar's bytes, read from the files a megabyte at a time."""
        written = 0
        for info, path in self.members:
            header = info.tobuf(format=tarfile.PAX_FORMAT)
            yield header
            written += len(header)
            with path.open("rb") as fh:
                left = info.size
                while left > 0:
                    chunk = fh.read(min(CHUNK, left))
                    if not chunk:
                        raise OSError(f"{path} shrank while it was being archived")
                    left -= len(chunk)
                    yield chunk
            pad = -info.size % BLOCK
            written += info.size + pad
            if pad:
                yield b"\0" * pad
        tail = 2 * BLOCK
        tail += -(written + tail) % RECORD
        yield b"\0" * tail


def dataset_archive_folder(*, dataset: Dataset) -> str:
    label = f"{dataset.project.slug}-{dataset.format}-{str(dataset.uuid)[:8]}"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in label)


def dataset_archive(*, dataset: Dataset) -> DatasetArchive:
    """The archive of ``dataset`` (``Http404`` when one of its files is missing, as for one file)."""
    folder = dataset_archive_folder(dataset=dataset)
    mtime = int(dataset.created_at.timestamp())
    members = []
    size = 0
    for name in dataset_file_names(dataset=dataset):
        path = dataset_file_path(dataset=dataset, name=name)
        info = tarfile.TarInfo(f"{folder}/{name}")
        info.size = path.stat().st_size
        info.mtime = mtime
        info.mode = 0o644
        info.uname = info.gname = "root"
        members.append((info, path))
        size += len(info.tobuf(format=tarfile.PAX_FORMAT)) + info.size + (-info.size % BLOCK)
    size += 2 * BLOCK
    size += -size % RECORD
    listed = {f.get("name"): f.get("sha256") for f in dataset.files}
    digest = hashlib.sha256(f"{dataset.uuid}\n{dataset.sha256}\n".encode())
    for info, _path in members:
        digest.update(f"{info.name} {info.size} {listed.get(info.name.split('/', 1)[1], '')}\n".encode())
    return DatasetArchive(
        filename=f"{folder}.tar",
        folder=folder,
        members=members,
        size=size,
        etag=f'"tar-{digest.hexdigest()[:40]}"',
    )


def etag_matches(request, etag: str) -> bool:
    """Whether the request's ``If-None-Match`` names ``etag`` (weak or strong) or ``*``."""
    header = request.headers.get("If-None-Match", "")
    return any(tag.strip() in (etag, f"W/{etag}", "*") for tag in header.split(",")) if header else False


def dataset_archive_response(request, *, dataset: Dataset) -> HttpResponse:
    """The streamed ``.tar`` download (or 304 when ``If-None-Match`` has its ETag): the page's and the API's."""
    archive = dataset_archive(dataset=dataset)
    if etag_matches(request, archive.etag):
        response = HttpResponse(status=304)
    else:
        response = StreamingHttpResponse(archive.chunks(), content_type="application/x-tar")
        response["Content-Length"] = str(archive.size)
        response["Content-Disposition"] = f'attachment; filename="{archive.filename}"'
    response["ETag"] = archive.etag
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response


def dataset_file_response(request, *, dataset: Dataset, path: Path, name: str) -> HttpResponse:
    """One file of the dataset (``path`` from ``dataset_file_path``), streamed; 304 when ``If-None-Match`` has its sha256."""
    listed = {f.get("name"): f.get("sha256") for f in dataset.files}
    etag = f'"{listed.get(name) or file_sha256(path)[0]}"'
    if etag_matches(request, etag):
        response = HttpResponse(status=304)
    else:
        content_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response
