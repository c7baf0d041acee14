"""Where an upload and its rejected lines live: ``DOCKET_IMPORT_DIR/<token>/``
(``upload.jsonl``, deleted once its job ends; ``rejected.jsonl``, kept)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse

from curation.models import Job

UPLOAD_NAME = "upload.jsonl"
REJECTED_NAME = "rejected.jsonl"
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def import_folder(token: str) -> Path:
    """The folder of one upload (its file and, once run, its rejected lines)."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise ValueError(f"not an upload token: {token!r}")
    return Path(settings.DOCKET_IMPORT_DIR) / token


def rejected_path(job: Job) -> Path | None:
    """The JSONL file of the lines an import job rejected, if it wrote one."""
    try:
        path = import_folder((job.params or {}).get("upload", "")) / REJECTED_NAME
    except ValueError:
        return None
    return path if path.is_file() and path.stat().st_size > 0 else None


def rejected_download(job: Job) -> FileResponse | None:
    """The rejected lines as a JSONL attachment (the page's and the API's download), or None."""
    path = rejected_path(job)
    if path is None:
        return None
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"rejected-{job.uuid}.jsonl",
        content_type="application/jsonl; charset=utf-8",
    )
