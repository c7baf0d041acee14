"""The curation side's tables: background jobs, the record of what
candidate generation produced for each prompt, audits, datasets, synthesized
instructions and each project's activity log (``Activity``).

Job life cycle (see ``curation.jobs``)::

    queued --(a worker wins the conditional UPDATE)--> running --> succeeded
       \\                                                 |  \\-> failed (traceback tail in ``error``)
        \\-> cancelled (cancel before start)             \\---> cancelled (cancel honoured between batches)

A running job holds a lease: ``lease_token`` names the current run and
``heartbeat_at`` is refreshed every few seconds by a heartbeat thread. A
worker that dies (SIGKILL, OOM, machine lost) stops heartbeating; the job is
then taken over by the next ``run_job`` of it (a redelivered task, the
recovery sweep at worker start-up or by beat) with a new lease token, and the
dead run's writes, should it come back, are refused because they name the old
token.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class JobKind(models.TextChoices):
    GENERATE = "generate", "Generate candidates"
    JUDGE = "judge", "Algorithmic judge"
    ENCODE = "encode", "Encode (hidden states)"
    AUDIT = "audit", "Audit"
    SYNTHESIZE = "synthesize", "Synthesize prompts"
    EXPORT = "export", "Export dataset"
    IMPORT = "import", "Import items"


# Kinds whose runner loads a model: they go to the 'model' queue, whose
# workers run one task at a time with the model cached in memory.
MODEL_KINDS = frozenset({JobKind.GENERATE, JobKind.JUDGE, JobKind.ENCODE, JobKind.SYNTHESIZE})


class JobQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)

    def active(self):
        return self.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ENDED = ("succeeded", "failed", "cancelled")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("annotate.Project", related_name="jobs", on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    log_tail = models.TextField(blank=True, help_text="The last lines of the job's log.")
    result = models.JSONField(default=dict, blank=True)
    # Runner-owned state that survives a crash (e.g. the fixed list of
    # prompts a generation job works through), so a resumed run continues
    # the same plan instead of starting a new one.
    checkpoint = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    worker = models.CharField(max_length=300, blank=True, help_text="host:pid:start-time of the current run.")
    cancel_requested = models.BooleanField(default=False)
    celery_task_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="job_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["generate", "judge", "encode", "audit", "synthesize", "export", "import"]),
                name="job_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(progress_total=0) | Q(progress_done__lte=models.F("progress_total")),
                name="job_progress_within_total",
            ),
        ]
        indexes = [
            # the project's recent jobs, newest first.
            models.Index(fields=["project", "-created_at"], name="job_project_recent_idx"),
            # recovery sweep: running jobs by heartbeat age.
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.uuid} ({self.status})"

    @property
    def ended(self) -> bool:
        return self.status in self.ENDED

    @property
    def queue(self) -> str:
        """The Celery queue that runs this kind of job."""
        return "model" if self.kind in MODEL_KINDS else "light"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def duration(self):
        if not self.started_at:
            return None
        end = self.finished_at or self.heartbeat_at or self.started_at
        return end - self.started_at


class PromptGeneration(models.Model):
    """What one generation run produced for one prompt, written in the same
    transaction as its responses: the K samples in order, each pointing at
    its (possibly de-duplicated) ``Response``.

    Its presence marks the prompt as done for these parameters
    (``fingerprint``), which makes generation idempotent: a re-run or a
    resumed job skips the prompt and builds items from this record.
    """

    prompt = models.ForeignKey("annotate.Prompt", related_name="generations", on_delete=models.CASCADE)
    job = models.ForeignKey(Job, null=True, blank=True, related_name="generations", on_delete=models.SET_NULL)
    fingerprint = models.CharField(max_length=64)
    model_name = models.CharField(max_length=500)
    params = models.JSONField(default=dict)
    # Response primary keys in sample order; a duplicate sample repeats the id.
    response_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "fingerprint"], name="promptgeneration_unique"),
        ]

    def __str__(self) -> str:
        return f"generation {self.fingerprint[:8]} of prompt {self.prompt_id}"


class JobShard(models.Model):
    """One slice of a sharded job's work (e.g. 32 prompts of an encode job), claimed by any worker.

    A sharded job (``curation.jobs.shards``) is planned once into shards; every
    worker taking part claims pending shards with ``SELECT … FOR UPDATE SKIP
    LOCKED`` and holds each under a lease (``lease_token``, ``heartbeat_at``)
    until the shard's writes and its ``done`` mark commit together. A shard
    whose worker died (heartbeat older than ``DOCKET_JOB_STALE_SECONDS``, or
    its process gone on this host) is claimed again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    job = models.ForeignKey(Job, related_name="shards", on_delete=models.CASCADE)
    index = models.PositiveIntegerField()
    payload = models.JSONField(default=dict, blank=True)
    units = models.PositiveIntegerField(default=0, help_text="Progress units (e.g. prompts) the shard counts for.")
    result = models.JSONField(default=dict, blank=True, help_text="What the shard's writes report (e.g. counts).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    worker = models.CharField(max_length=300, blank=True, help_text="host:pid:start-time of its current holder.")
    lease_token = models.UUIDField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="jobshard_unique_index"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done"]), name="jobshard_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["job", "status"], name="jobshard_job_status_idx")]

    def __str__(self) -> str:
        return f"shard {self.index} of job {self.job_id} ({self.status})"


class ResponseEncoding(models.Model):
    """The reference model's view of one response, for CHES (docs/algorithms.md#ches).

    ``vector`` is the float32 little-endian bytes of the sum of the last
    hidden layer over the positions that predict the response's tokens (the
    end-of-turn token included), given the response's own prompt; ``n_tokens``
    is how many positions were summed. One row per (response, model): every
    pair's CHES is then a dot product, never another forward pass.
    """

    response = models.ForeignKey("annotate.Response", related_name="encodings", on_delete=models.CASCADE)
    model_name = models.CharField(max_length=500)
    dim = models.PositiveIntegerField()
    n_tokens = models.PositiveIntegerField()
    vector = models.BinaryField()
    job = models.ForeignKey(Job, null=True, blank=True, related_name="encodings", on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "model_name"], name="responseencoding_unique"),
            models.CheckConstraint(condition=Q(n_tokens__gt=0), name="responseencoding_tokens_positive"),
        ]

    def __str__(self) -> str:
        return f"encoding of response {self.response_id} by {self.model_name}"

    def as_array(self):
        import numpy as np

        return np.frombuffer(bytes(self.vector), dtype="<f4").astype(np.float64)


class Audit(models.Model):
    """One audit run of a project: the project-level figures, kept as history.

    ``summary`` holds what the overview, annotators and discretion dashboards
    draw (α per kind with bootstrap intervals, consensus method, discretion
    categories / supremacy / priority / discrepancy, CHES quantiles, …), so
    the pages open without recomputing. Per-item and per-annotator figures
    live in ``ItemAudit`` and ``AnnotatorAudit`` rows that point at the run.
    """

    project = models.ForeignKey("annotate.Project", related_name="audits", on_delete=models.CASCADE)
    job = models.ForeignKey(Job, null=True, blank=True, related_name="audits", on_delete=models.SET_NULL)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = ["created_at", "id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_project_recent_idx")]

    def __str__(self) -> str:
        return f"audit {self.pk} of project {self.project_id}"


class ItemAudit(models.Model):
    """An item's figures from one audit run.

    ``consensus`` is kind-specific JSON: pairwise ``{"choice": "A"|"B"|"tie"|
    "both_bad", "method": ..., "shares": {...}}``; thumb ``{"choice":
    "up"|"down", ...}``; ranking ``{"order": [[response_uuid, ...], ...],
    "scores": {...}, "method": "borda"|"resolution"}`` (the rules of
    ``curation.consensus``, docs/algorithms.md#consensus). For a pairwise item with a clear consensus,
    ``chosen``/``rejected`` name the responses and ``ches``/``ln_ches`` hold
    the pair's CHES under ``ches_model`` (null when not encoded yet).
    ``majority_share`` holds the item agreement (docs/algorithms.md#item-agreement:
    the majority share; for rankings the mean pairwise Kendall agreement).
    ``disagreement`` (1 − agreement, 0 = unanimous) sorts the
    disagreement dashboard; ``flags`` lists reasons such as
    "low_agreement", "swap_inconsistent", "transitivity".
    """

    audit = models.ForeignKey(Audit, related_name="items", on_delete=models.CASCADE)
    item = models.ForeignKey("annotate.Item", related_name="audits", on_delete=models.CASCADE)
    n_judgments = models.PositiveIntegerField(default=0)
    majority_share = models.FloatField(null=True, blank=True)
    entropy = models.FloatField(null=True, blank=True)
    disagreement = models.FloatField(null=True, blank=True)
    consensus = models.JSONField(default=dict, blank=True)
    chosen = models.ForeignKey("annotate.Response", null=True, blank=True, related_name="+", on_delete=models.SET_NULL)
    rejected = models.ForeignKey(
        "annotate.Response", null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    ches = models.FloatField(null=True, blank=True)
    ln_ches = models.FloatField(null=True, blank=True)
    ches_model = models.CharField(max_length=500, blank=True)
    discretion_category = models.CharField(max_length=16, blank=True)  # indifference / conflict / consensus
    flags = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audit", "item"], name="itemaudit_unique")]
        indexes = [
            models.Index(fields=["audit", "-disagreement"], name="itemaudit_disagreement_idx"),
            models.Index(fields=["audit", "-ln_ches"], name="itemaudit_ln_ches_idx"),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} in audit {self.audit_id}"


class AnnotatorAudit(models.Model):
    """An annotator's figures from one audit run (humans and judges alike)."""

    audit = models.ForeignKey(Audit, related_name="annotators", on_delete=models.CASCADE)
    annotator = models.ForeignKey("annotate.Annotator", related_name="audits", on_delete=models.CASCADE)
    n_annotations = models.PositiveIntegerField(default=0)
    agreement = models.FloatField(null=True, blank=True, help_text="Share agreeing with the consensus.")
    kappa = models.FloatField(null=True, blank=True, help_text="Cohen's κ against the consensus.")
    probe_consistency = models.FloatField(null=True, blank=True)
    swap_consistency = models.FloatField(null=True, blank=True)
    transitivity_violations = models.PositiveIntegerField(default=0)
    median_seconds = models.FloatField(null=True, blank=True)
    arbitrariness = models.FloatField(null=True, blank=True)
    outlier = models.BooleanField(default=False)
    flags = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audit", "annotator"], name="annotatoraudit_unique")]

    def __str__(self) -> str:
        return f"annotator {self.annotator_id} in audit {self.audit_id}"


class Dataset(models.Model):
    """A versioned export: files on disk under ``DOCKET_EXPORT_DIR/<uuid>/``
    (JSONL and Parquet per split, README.md card, manifest.json)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("annotate.Project", related_name="datasets", on_delete=models.CASCADE)
    job = models.OneToOneField(Job, null=True, blank=True, related_name="dataset", on_delete=models.SET_NULL)
    name = models.CharField(max_length=200, blank=True)
    format = models.CharField(max_length=16)
    filters = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=1000, blank=True, help_text="Folder, relative to DOCKET_EXPORT_DIR.")
    files = models.JSONField(
        default=list, blank=True, help_text='[{"name", "split", "format", "rows", "sha256", "bytes"}]'
    )
    row_count = models.PositiveIntegerField(default=0)
    manifest = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="sha256 of the data files' sorted 'name  sha256' lines: equal for equal data and options.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.format} dataset {self.uuid}"


# ---------------------------------------------------------------- synthesis (Magpie)


class SynthesizedInstruction(models.Model):
    """One instruction a synthesis job sampled (Magpie, docs/algorithms.md#magpie),
    kept whether accepted or not so curators can review the filters.

    ``index`` is the sample's number within its job (sampling order; the job
    resumes after the last committed index). Accepted ones point at the
    ``Prompt`` they became (``source='synthesized'``); rejected ones carry
    the ``reason`` (a name from ``curation.synthesis.filters.REASONS``).
    ``tags`` holds the judge's quality tags (input quality, difficulty,
    category, with their label probabilities) when they were computed;
    ``min_distance`` the squared L2 distance of the unit embedding to its
    nearest earlier instruction or existing prompt (null when it was not
    embedded or had no neighbour).
    """

    job = models.ForeignKey(Job, related_name="synthesized", on_delete=models.CASCADE)
    index = models.PositiveIntegerField()
    text = models.TextField()
    accepted = models.BooleanField(default=False)
    reason = models.CharField(max_length=32, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    min_distance = models.FloatField(null=True, blank=True)
    n_tokens = models.PositiveIntegerField(default=0)
    finished = models.BooleanField(default=True, help_text="Stopped at the end of the user turn.")
    system_prompt = models.TextField(blank=True)
    prompt = models.ForeignKey(
        "annotate.Prompt", null=True, blank=True, related_name="synthesized_from", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="synthesizedinstruction_unique_index"),
            models.CheckConstraint(
                condition=(Q(accepted=True) & Q(reason="")) | (Q(accepted=False) & ~Q(reason="")),
                name="synthesizedinstruction_reason_iff_rejected",
            ),
        ]
        indexes = [models.Index(fields=["job", "accepted", "reason"], name="synth_job_accepted_idx")]

    def __str__(self) -> str:
        return f"synthesized #{self.index} of job {self.job_id} ({'accepted' if self.accepted else self.reason})"


class Activity(models.Model):
    """One entry of a project's activity log: who did what, when, to what, and
    what changed (``changes``: ``{field: [before, after]}``).

    A small hand-written table rather than django-pghistory or
    django-simple-history: the log records *actions* (a job launched, an item
    excluded, a member's role changed, settings saved), several of which are
    not one row's new version, and it is read per project, newest first,
    filtered by verb and actor: one indexed table does that in one query,
    where the libraries keep one event table per tracked model (a union per
    page) and, through triggers or save signals, would also write a version on
    every hot-path update of the tracked rows (an item's slot counters change
    with every lease and annotation). Entries are written only by
    ``curation.projects.activity.activity_record``, inside the transaction of
    the write they describe.
    """

    project = models.ForeignKey("annotate.Project", related_name="activity", on_delete=models.CASCADE)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    # The actor's username when it happened (kept if the account goes); "" for the system.
    actor_name = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=64, help_text="What was done, e.g. 'member.role' (see activity.VERBS).")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"], name="activity_project_recent_idx"),
            models.Index(fields=["project", "verb", "-created_at"], name="activity_project_verb_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.verb} {self.target_label}".strip()


# ---------------------------------------------------------------- webhooks


class WebhookEventType(models.TextChoices):
    EXPORT_SUCCEEDED = "export.succeeded", "An export succeeded (its dataset)"
    EXPORT_FAILED = "export.failed", "An export failed"
    JOB_FINISHED = "job.finished", "Any job ended (succeeded, failed or cancelled)"
    ANNOTATION_CREATED = "annotation.created", "Annotations were recorded (batched)"
    ITEM_COMPLETED = "item.completed", "An item got all the judgments it wants"
    AUDIT_FINISHED = "audit.finished", "An audit finished"


class Webhook(models.Model):
    """A project's subscription: events POSTed as signed JSON to ``url`` (see ``curation.webhooks``).

    ``secret`` signs every delivery (HMAC-SHA256); ``consecutive_failures``
    counts deliveries in a row that failed after all their retries, and the
    hook is switched off (``active=False``, ``disabled_reason``) when it
    reaches ``DOCKET_WEBHOOK_DISABLE_AFTER``.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("annotate.Project", related_name="webhooks", on_delete=models.CASCADE)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types this hook receives.")
    secret = models.CharField(max_length=80)
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"webhook {self.url} of project {self.project_id}"


class WebhookEvent(models.Model):
    """One event that happened in a project, with the payload every hook receives.

    ``dedupe_key`` (unique per project and type when set) makes an event that
    several code paths could notice (an item completed) exist once.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("annotate.Project", related_name="webhook_events", on_delete=models.CASCADE)
    type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    payload = models.JSONField(default=dict)
    dedupe_key = models.CharField(max_length=100, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "type", "dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="webhook_event_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} event {self.uuid}"


class WebhookDelivery(models.Model):
    """One event sent to one hook: every attempt's outcome, retried with exponential backoff.

    A redelivery (the page's or the API's button) is a new row for the same
    event (``redelivery_of`` the one it repeats), so the log keeps both.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, related_name="deliveries", on_delete=models.CASCADE)
    event = models.ForeignKey(WebhookEvent, related_name="deliveries", on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the receiver's last answer.")
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    redelivery_of = models.ForeignKey("self", null=True, blank=True, related_name="+", on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]), name="webhook_delivery_status_valid"
            )
        ]
        indexes = [
            # the delivery log of a hook, newest first.
            models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.uuid} ({self.status})"
