"""The 'import' job's runner: ``items_import`` on the stored upload, its
progress on the job's bar, each rejected line written to ``rejected.jsonl``.

All or nothing (the default): the whole file is written in one transaction,
so a bad line, a cancel or a crash leaves nothing behind; a resumed run
starts over (re-importing adds nothing). The import's progress is written
on a connection of its own while the import's transaction is open, so the
page sees it and a cancel is noticed between batches (the transaction then
rolls back).
"""

from __future__ import annotations

import json
import threading
import time

from django.core.exceptions import PermissionDenied
from django.db import connection

from annotate.services.importing import ImportFailed, items_import, rejected_dicts
from curation.imports.files import REJECTED_NAME, UPLOAD_NAME, import_folder
from curation.imports.params import import_params_clean
from curation.jobs.lifecycle import JobFailed, JobLost, JobProgress
from curation.models import Job

RESULT_REJECTED = 100  # rejected lines listed in job.result (all are in rejected.jsonl)
WRITE_EVERY_SECONDS = 0.5


class _Reporter:
    """``items_import``'s ``progress(stage, done, total)`` on the job's bar:
    reading in bytes, then writing in items. When the job does not run
    inside a transaction already (a worker, a command), each write goes
    through a short-lived thread with its own connection, so it is seen (and
    a cancel is read) while the import's transaction is still open."""

    def __init__(self, progress: JobProgress, *, detached: bool):
        self.progress = progress
        self.detached = detached
        self.stage: str | None = None
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        new_stage = stage != self.stage
        if not new_stage and done != total and now - self.last < WRITE_EVERY_SECONDS:
            return
        self.stage, self.last = stage, now
        if stage == "read":
            message = f"Reading: {done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"Reading: {done} bytes"
        else:
            message = f"Writing: {done} of {total} items"

        def write() -> None:
            if new_stage:
                self.progress.set_total(total or 0)
            self.progress.set_done(done, message=message)  # raises JobCancelled on a cancel

        self._run(write)

    def _run(self, fn) -> None:
        if not self.detached:
            fn()
            return
        failure: list[BaseException] = []

        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # handed back to the importing thread
                failure.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=target, name="import-progress", daemon=True)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]


def items_import_job(job: Job, progress: JobProgress) -> dict:
    """The 'import' job: see the module docstring. Returns the import's
    report (``ImportReport.as_dict``) with the first ``RESULT_REJECTED``
    rejected lines; raises ``JobFailed`` (nothing written) for a file with a
    bad line in all-or-nothing mode, or one with no valid line."""
    params = import_params_clean(data=job.params or {})
    folder = import_folder(job.params.get("upload", ""))
    upload = folder / UPLOAD_NAME
    if not upload.is_file():
        raise JobFailed(f"The uploaded file {job.params.get('file_name', '')!r} is gone; upload it again.")
    progress.log(
        f"importing {job.params.get('file_name', UPLOAD_NAME)} ({job.params.get('bytes', 0)} bytes), "
        + ("skipping invalid lines" if params["skip_invalid"] else "all or nothing")
    )
    reporter = _Reporter(progress, detached=not connection.in_atomic_block)
    try:
        with upload.open("rb") as fileobj, (folder / REJECTED_NAME).open("w", encoding="utf-8") as rejects:

            def on_reject(line: int, field: str | None, message: str, text: str | None) -> None:
                record = {"line": line, "field": field or "", "error": message, "text": text}
                rejects.write(json.dumps(record, ensure_ascii=False) + "\n")

            report = items_import(
                project=job.project,
                fileobj=fileobj,
                source_name=params["source_name"],
                user=job.created_by,
                progress=reporter,
                skip_invalid=params["skip_invalid"],
                on_reject=on_reject,
            )
    except ImportFailed as failure:
        upload.unlink(missing_ok=True)
        file_errors = [e for e in failure.errors if e[0] is None]
        why = file_errors[0][2] if file_errors else f"{failure.error_count} invalid line(s)"
        summary = f"Nothing was imported: {why}."
        if not params["skip_invalid"] and not file_errors:
            summary += " Fix them, or import again skipping invalid lines."
        raise JobFailed(
            "\n".join([*failure.messages(), summary]),
            result={
                "lines_rejected": failure.error_count - len(file_errors),
                "rejected": rejected_dicts([e for e in failure.errors if e[0] is not None][:RESULT_REJECTED]),
                "summary": summary,
            },
        ) from None
    except PermissionDenied as denied:
        upload.unlink(missing_ok=True)
        raise JobFailed(f"Nothing was imported: {denied}") from None
    except JobLost:
        raise  # another run holds the job now: its upload stays
    except BaseException:
        upload.unlink(missing_ok=True)  # cancelled or failed: it is not resumed
        raise
    upload.unlink(missing_ok=True)
    result = report.as_dict(rejected_limit=RESULT_REJECTED)
    progress.log(report.summary())
    return result
