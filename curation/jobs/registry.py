"""Which function runs each job kind: one explicit import per kind.

A runner is ``fn(job, progress) -> result dict`` (stored in ``job.result``):
it reads ``job.params``, reports through ``progress`` (a
:class:`~curation.jobs.lifecycle.JobProgress`) and commits its work in
batches it can skip when resumed. A new kind adds its ``JobKind``, its
``<kind>_create`` service and one line here: in ``RUNNERS``, or in
``SHARDED`` when its work splits into shards that many workers share
(a :class:`~curation.jobs.shards.ShardSpec`: plan, run a shard, finish).
"""

from __future__ import annotations

from collections.abc import Callable

from curation.audit.runner import project_audit
from curation.ches.runner import ENCODE_SHARDS
from curation.exports.runner import dataset_export
from curation.generation.runner import GENERATE_SHARDS
from curation.imports.runner import items_import_job
from curation.jobs.lifecycle import JobProgress
from curation.jobs.shards import ShardSpec
from curation.judging.runner import JUDGE_SHARDS
from curation.models import Job, JobKind
from curation.synthesis.runner import SYNTHESIZE_SHARDS

Runner = Callable[[Job, JobProgress], dict | None]

RUNNERS: dict[str, Runner] = {
    JobKind.AUDIT.value: project_audit,
    JobKind.EXPORT.value: dataset_export,
    JobKind.IMPORT.value: items_import_job,
}

# Kinds whose work splits into shards that any number of workers claim at once
# (curation.jobs.shards); run_job runs these through the shards, never RUNNERS.
SHARDED: dict[str, ShardSpec] = {
    JobKind.ENCODE.value: ENCODE_SHARDS,
    JobKind.JUDGE.value: JUDGE_SHARDS,
    JobKind.GENERATE.value: GENERATE_SHARDS,
    JobKind.SYNTHESIZE.value: SYNTHESIZE_SHARDS,
}
