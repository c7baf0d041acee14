"""The rejected lines of an import job, as a JSONL download (curators and owners; 404 for anyone else)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404

from curation.imports import files
from curation.jobs.selectors import job_get_for_curator
from curation.models import JobKind


@login_required
def rejected_download(request, slug, job_uuid):
    job = job_get_for_curator(request.user, slug, job_uuid, kind=JobKind.IMPORT)
    response = files.rejected_download(job)
    if response is None:
        raise Http404("This import rejected no line.")
    return response
