"""Launch an import: :func:`import_create`, the one service the upload page,
``POST /api/v1/projects/<slug>/import/`` and ``manage.py import_items`` call.

The upload is copied into ``DOCKET_IMPORT_DIR/<token>/upload.jsonl`` (a
folder web and workers share, like the export folder) before the job row
exists, so a worker never starts on a missing file; the job's parameters
name the folder by its random token, never by a path.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError

from annotate.models import CURATE_ROLES, Project
from curation.imports.files import UPLOAD_NAME, import_folder
from curation.imports.params import import_params_clean
from curation.jobs.services import job_create
from curation.models import Job, JobKind

COPY_CHUNK = 1024 * 1024


def _store(source, folder: Path) -> int:
    """Copy ``source`` (a binary file-like object or a path) to ``folder``; returns its size."""
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / UPLOAD_NAME
    if isinstance(source, (str, Path)):
        shutil.copyfile(source, target)
        return target.stat().st_size
    if hasattr(source, "seek"):
        source.seek(0)
    size = 0
    with target.open("wb") as out:
        chunks = source.chunks(COPY_CHUNK) if hasattr(source, "chunks") else iter(lambda: source.read(COPY_CHUNK), b"")
        for chunk in chunks:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8", "surrogatepass")
            out.write(chunk)
            size += len(chunk)
    return size


def import_create(*, project: Project, user, params: dict, enqueue: bool = True) -> Job:
    """Check the parameters, store the upload and queue an import of it.

    ``params``: ``file`` (required: an uploaded file, a binary file object or
    a path), ``file_name`` (shown on the job; default the file's name),
    ``source_name`` (names the imported annotator of TRL/HH labels; default
    the file's name) and ``skip_invalid`` (import the valid lines and list
    the rejected ones; default all or nothing). ``ValidationError`` names the
    bad field and nothing is stored or queued.
    """
    params = params or {}
    errors: dict[str, str] = {}
    try:
        cleaned = import_params_clean(data=params)
    except ValidationError as error:
        errors.update({k: " ".join(v) for k, v in error.message_dict.items()})
        cleaned = {}
    source = params.get("file")
    if source is None:
        errors["file"] = "file is required: attach a JSONL file"
    elif isinstance(source, (str, Path)) and not Path(source).is_file():
        errors["file"] = f"file {source} does not exist"
    elif not isinstance(source, (str, Path)) and not hasattr(source, "read"):
        errors["file"] = "file must be an uploaded file"
    if errors:
        raise ValidationError(errors)
    if user is not None and not getattr(user, "is_superuser", False) and project.role_of(user) not in CURATE_ROLES:
        raise PermissionDenied("Only the project's curators can import items.")
    file_name = str(params.get("file_name") or getattr(source, "name", None) or Path(str(source)).name)
    file_name = Path(file_name).name[:200]
    token = uuid.uuid4().hex
    folder = import_folder(token)
    try:
        size = _store(source, folder)
        job_params = {
            "upload": token,
            "file_name": file_name,
            "bytes": size,
            "source_name": cleaned["source_name"] or file_name,
            "skip_invalid": cleaned["skip_invalid"],
        }
        return job_create(project=project, kind=JobKind.IMPORT, params=job_params, user=user, enqueue=enqueue)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
