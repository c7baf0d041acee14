"""The collection side of Docket: projects, prompts, responses, items,
annotators, assignments (leases) and annotations.

Invariants the database itself enforces (see ``Meta.constraints``):

* one annotation per (item, annotator), and one per idempotency key;
* the choice of an annotation is valid for its kind (pairwise A/B/tie/both_bad
  with an optional strength 1-3, thumb up/down, none for ranking and judgment);
* one assignment per (item, annotator), so an item never reaches the same
  annotator twice, even after a skip;
* a prompt or response is stored once per content hash.

Pairwise choices are canonical: ``A`` is the item's response at position 0
and ``B`` the one at position 1, whatever side of the screen each was shown
on; the displayed order is recorded on the assignment and the annotation.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

new_uuid = uuid.uuid4


def content_hash(value) -> str:
    """A stable sha256 of any JSON-serialisable value (used for de-duplication)."""
    payload = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Kind(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise A/B"
    THUMB = "thumb", "Thumbs up/down"
    RANKING = "ranking", "Ranking"
    JUDGMENT = "judgment", "Written judgment"


# How many responses an item of each kind holds (min, max).
KIND_RESPONSES = {
    Kind.PAIRWISE: (2, 2),
    Kind.THUMB: (1, 1),
    Kind.RANKING: (3, 20),
    Kind.JUDGMENT: (1, 1),
}


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    CURATOR = "curator", "Curator"
    ANNOTATOR = "annotator", "Annotator"
    RESEARCHER = "researcher", "Researcher"


# What each role may do in its project.
CURATE_ROLES = {Role.OWNER, Role.CURATOR}
ANNOTATE_ROLES = {Role.OWNER, Role.CURATOR, Role.ANNOTATOR}
READ_DATA_ROLES = {Role.OWNER, Role.CURATOR, Role.RESEARCHER}
# Who may open a project's page (its guidelines and principles): every member.
PROJECT_PAGE_ROLES = ANNOTATE_ROLES | READ_DATA_ROLES


def default_kinds() -> list[str]:
    return [k.value for k in Kind]


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user):
        """Projects the user is a member of (any role)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).distinct()

    def with_role(self, user, roles):
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user, memberships__role__in=list(roles)).distinct()


class Project(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators in a side panel.")
    kinds = models.JSONField(default=default_kinds, help_text="Enabled feedback kinds.")
    overlap = models.PositiveSmallIntegerField(default=3, help_text="Distinct annotators wanted per item.")
    max_overlap = models.PositiveSmallIntegerField(
        default=0, help_text="Adaptive overlap: hand low-agreement items out again up to this many (0 = off)."
    )
    agreement_threshold = models.FloatField(
        default=0.0, help_text="Adaptive overlap: items whose agreement stays under this get more judgments."
    )
    lease_seconds = models.PositiveIntegerField(default=900, help_text="How long an item is reserved for an annotator.")
    probe_rate = models.FloatField(default=0.0, help_text="Share of repeat / A-B-swapped probe items per annotator.")
    randomize_order = models.BooleanField(default=True, help_text="Shuffle response positions per annotator.")
    model_name = models.CharField(max_length=500, blank=True, help_text="Local model for this project's jobs.")
    options = models.JSONField(default=dict, blank=True, help_text="Per-project options for jobs.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=10), name="project_lease_min"),
            models.CheckConstraint(
                condition=Q(probe_rate__gte=0) & Q(probe_rate__lte=0.5), name="project_probe_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def role_of(self, user) -> str | None:
        if not user.is_authenticated:
            return None
        membership = self.memberships.filter(user=user).only("role").first()
        return membership.role if membership else None


class Membership(models.Model):
    project = models.ForeignKey(Project, related_name="memberships", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="memberships", on_delete=models.CASCADE)
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


GUIDANCE_KINDS = {
    "canon": "Canon",
    "counts": "Counts when",
    "excludes": "Does not count when",
}


class Principle(models.Model):
    """A rule annotators and judges give a verdict on, per item. A retired
    principle (``retired_at`` set) keeps its past verdicts, for audits, but is
    no longer shown to annotators or asked of judges.

    ``name``, ``description`` and ``guidance`` are the current wording, the
    same as ``current_version``'s: every change of wording is a new
    :class:`PrincipleVersion` (``principle_update``), and every verdict
    records the version it was given under. ``guidance``: interpretive
    guidance, a short list of ``{"kind", "text"}`` entries, ``kind`` one of
    ``GUIDANCE_KINDS`` (a canon of reading, or a worked example of when the
    principle counts or does not).
    """

    project = models.ForeignKey(Project, related_name="principles", on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    guidance = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Null only for a principle written outside the services (a fixture): its
    # first verdict snapshots version 1 (annotate.services.principles).
    current_version = models.ForeignKey(
        "PrincipleVersion", null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="principle_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class PrincipleVersion(models.Model):
    """One wording of a principle (name, description, guidance), numbered 1, 2, …
    per principle; never changed once written, so old wordings stay readable."""

    principle = models.ForeignKey(Principle, related_name="versions", on_delete=models.CASCADE)
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    guidance = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["principle", "number"]
        constraints = [
            models.UniqueConstraint(fields=["principle", "number"], name="principle_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="principle_version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"


class Rejudgment(models.Model):
    """A re-judgment sample (issue 19's refinement loop): after ``principle`` was
    rewritten from ``old_version`` to ``new_version``, ``size`` items its old version
    was applied to are asked again, as copies (``Item.rejudgment``), of the
    project's annotators (``overlap`` judgments each through the normal queue, 0:
    none) and/or of a judge ``panel`` run as a job (``job_uuid``). ``result``: the
    last before/after comparison (``curation.refinement.services.rejudgment_compare``)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, related_name="rejudgments", on_delete=models.CASCADE)
    principle = models.ForeignKey(Principle, related_name="rejudgments", on_delete=models.CASCADE)
    old_version = models.ForeignKey(PrincipleVersion, related_name="+", on_delete=models.CASCADE)
    new_version = models.ForeignKey(PrincipleVersion, related_name="+", on_delete=models.CASCADE)
    size = models.PositiveIntegerField()
    overlap = models.PositiveSmallIntegerField(default=0)
    panel = models.JSONField(default=list, blank=True)
    job_uuid = models.UUIDField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    compared_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"re-judgment of {self.principle_id} v{self.old_version_id}→v{self.new_version_id}"


class Source(models.TextChoices):
    IMPORT = "import", "Imported"
    SYNTHESIZED = "synthesized", "Synthesized"
    GENERATED = "generated", "Generated by a model"
    API = "api", "API"
    DEMO = "demo", "Demo"
    HUMAN = "human", "Written by a person"


class Prompt(models.Model):
    """A conversation in TRL's conversational form: ``[{"role", "content"}, ...]``."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, related_name="prompts", on_delete=models.CASCADE)
    messages = models.JSONField()
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.IMPORT)
    tags = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="prompt_unique_content")]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def text(self) -> str:
        """The last user message (what a plain-text export calls the prompt)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message.get("content", "")
        return self.messages[-1].get("content", "") if self.messages else ""


class Response(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    prompt = models.ForeignKey(Prompt, related_name="responses", on_delete=models.CASCADE)
    text = models.TextField()
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.IMPORT)
    model_name = models.CharField(max_length=500, blank=True)
    generation_params = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "content_hash"], name="response_unique_content")]

    def __str__(self) -> str:
        return self.text[:80]


class ItemQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)

    def assignable(self):
        """Items that still want judgments (neither excluded nor full)."""
        return self.filter(status=Item.Status.OPEN, excluded=False)


class Item(models.Model):
    """What one annotator sees once: a prompt and one or more of its responses."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, related_name="items", on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    prompt = models.ForeignKey(Prompt, related_name="items", on_delete=models.CASCADE)
    responses = models.ManyToManyField(Response, through="ItemResponse", related_name="items")
    external_id = models.CharField(max_length=200, blank=True)
    content_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    # Leases held plus annotations submitted; kept in step by the assignment
    # service under the item's row lock so next-item never over-assigns.
    slots_taken = models.PositiveIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    # 0 = the project's overlap; adaptive overlap raises it per item.
    target_overlap = models.PositiveSmallIntegerField(default=0)
    excluded = models.BooleanField(default=False)
    resolution = models.JSONField(null=True, blank=True, help_text="A curator's verdict overriding the consensus.")
    # Probes: a hidden repeat (optionally A/B-swapped) of another item, shown
    # only to one annotator to measure their consistency.
    probe_of = models.ForeignKey("self", null=True, blank=True, related_name="probes", on_delete=models.CASCADE)
    probe_for = models.ForeignKey(
        "Annotator", null=True, blank=True, related_name="probe_items", on_delete=models.CASCADE
    )
    probe_swapped = models.BooleanField(default=False)
    # Re-judgment copies: the same prompt and responses asked again after a
    # principle was rewritten (``Rejudgment``); kept out of consensus, audits,
    # exports and ordinary judge runs, read only by the before/after comparison.
    rejudge_of = models.ForeignKey("self", null=True, blank=True, related_name="rejudged_as", on_delete=models.CASCADE)
    rejudgment = models.ForeignKey("Rejudgment", null=True, blank=True, related_name="copies", on_delete=models.CASCADE)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="item_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=["open", "done"]), name="item_status_valid"),
            models.UniqueConstraint(fields=["project", "content_hash"], name="item_unique_content"),
            models.UniqueConstraint(
                fields=["project", "external_id"], condition=~Q(external_id=""), name="item_unique_external_id"
            ),
        ]
        indexes = [
            # next-item: open, not excluded items of a project, oldest first.
            models.Index(fields=["project", "status", "excluded", "id"], name="item_next_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} item {self.uuid}"

    def ordered_responses(self) -> list[Response]:
        return [link.response for link in self.links.select_related("response").order_by("position")]

    def response_uuids(self) -> list[str]:
        """The responses' uuids (as strings) in canonical order; read once per instance.

        The annotate loop's queries (the claim, the submit lookup) fill it in
        with the row, so validating a submission needs no further query.
        """
        cached = self.__dict__.get("_response_uuids")
        if cached is None:
            cached = [str(u) for u in self.links.order_by("position").values_list("response__uuid", flat=True)]
            self.__dict__["_response_uuids"] = cached
        return cached


class ItemResponse(models.Model):
    item = models.ForeignKey(Item, related_name="links", on_delete=models.CASCADE)
    response = models.ForeignKey(Response, related_name="links", on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "position"], name="itemresponse_unique_position"),
            models.UniqueConstraint(fields=["item", "response"], name="itemresponse_unique_response"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}[{self.position}] = {self.response_id}"


class Annotator(models.Model):
    """Someone or something that judges items: a person, an algorithmic judge
    (a model and its prompt), or the source of an imported preference dataset.
    All three are stored alike so their annotations are audited alike."""

    class Type(models.TextChoices):
        HUMAN = "human", "Human"
        MODEL = "model", "Algorithmic judge"
        IMPORTED = "imported", "Imported labels"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.HUMAN)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="annotator", on_delete=models.CASCADE
    )
    name = models.CharField(max_length=200)
    model_name = models.CharField(max_length=500, blank=True)
    judge_prompt = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    flagged = models.BooleanField(default=False, help_text="Flagged by a curator; exports may leave it out.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(type__in=["human", "model", "imported"]), name="annotator_type_valid"),
            models.CheckConstraint(condition=~Q(type="human") | Q(user__isnull=False), name="annotator_human_has_user"),
            models.CheckConstraint(
                condition=~Q(type="model") | ~Q(model_name=""), name="annotator_model_has_model_name"
            ),
            models.UniqueConstraint(
                fields=["type", "name", "model_name"], condition=~Q(type="human"), name="annotator_unique_nonhuman"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_human(self) -> bool:
        return self.type == self.Type.HUMAN


class Assignment(models.Model):
    """A lease of an item to one annotator, with an expiry."""

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    item = models.ForeignKey(Item, related_name="assignments", on_delete=models.CASCADE)
    annotator = models.ForeignKey(Annotator, related_name="assignments", on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    # Response uuids (as strings) in the order they were shown, left to right.
    display_order = models.JSONField(default=list)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_unique_item_annotator"),
            models.CheckConstraint(
                condition=Q(status__in=["leased", "submitted", "skipped", "expired"]), name="assignment_status_valid"
            ),
        ]
        indexes = [
            # reclaim: leased rows past their expiry.
            models.Index(fields=["status", "expires_at"], name="assignment_expiry_idx"),
            # the annotator's current lease.
            models.Index(fields=["annotator", "status"], name="assignment_annotator_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.item} → {self.annotator} ({self.status})"


class PairwiseChoice(models.TextChoices):
    A = "A", "A is better"
    B = "B", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class ThumbChoice(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class AnnotationQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(item__project=project)

    def by_humans(self):
        return self.filter(annotator__type=Annotator.Type.HUMAN)


class Annotation(models.Model):
    """One annotator's judgment of one item, written once."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    item = models.ForeignKey(Item, related_name="annotations", on_delete=models.CASCADE)
    annotator = models.ForeignKey(Annotator, related_name="annotations", on_delete=models.PROTECT)
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, related_name="annotation", on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # pairwise: A/B/tie/both_bad (canonical positions); thumb: up/down.
    choice = models.CharField(max_length=16, blank=True)
    strength = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Pairwise: 1 slight … 3 strong.")
    # ranking: groups of response uuids, best first; a group of several is a tie.
    ranking = models.JSONField(null=True, blank=True)
    critique = models.TextField(blank=True)
    corrected_response = models.TextField(blank=True)
    rationale = models.TextField(blank=True)
    display_order = models.JSONField(default=list)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.UUIDField(default=new_uuid)
    # Algorithmic judges: token probabilities, order consistency.
    probabilities = models.JSONField(null=True, blank=True)
    consistent = models.BooleanField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AnnotationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="annotation_unique_item_annotator"),
            models.UniqueConstraint(fields=["annotator", "idempotency_key"], name="annotation_unique_idempotency"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="annotation_kind_valid"),
            models.CheckConstraint(
                condition=(
                    (Q(kind="pairwise") & Q(choice__in=PairwiseChoice.values))
                    | (Q(kind="thumb") & Q(choice__in=ThumbChoice.values))
                    | (Q(kind__in=["ranking", "judgment"]) & Q(choice=""))
                ),
                name="annotation_choice_valid",
            ),
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | (Q(kind="pairwise") & Q(strength__gte=1) & Q(strength__lte=3)),
                name="annotation_strength_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="ranking") | Q(ranking__isnull=False), name="annotation_ranking_present"
            ),
            models.CheckConstraint(condition=~Q(kind="judgment") | ~Q(critique=""), name="annotation_critique_present"),
        ]
        indexes = [models.Index(fields=["annotator", "created_at"], name="annotation_annotator_idx")]

    def __str__(self) -> str:
        return f"{self.annotator} on {self.item}: {self.choice or self.kind}"


class Verdict(models.TextChoices):
    A = "A", "Favours A"
    B = "B", "Favours B"
    NEITHER = "neither", "Neither"
    NA = "na", "Not applicable"


class PrincipleVerdict(models.Model):
    """Which response a principle favours, in the annotator's view.

    For single-response kinds (thumb, judgment) and rankings, ``A`` means the
    (top) response upholds the principle and ``neither`` that it violates it.
    """

    annotation = models.ForeignKey(Annotation, related_name="verdicts", on_delete=models.CASCADE)
    principle = models.ForeignKey(Principle, related_name="verdicts", on_delete=models.CASCADE)
    # The wording the verdict was given under (one of ``principle``'s versions).
    version = models.ForeignKey(PrincipleVersion, related_name="verdicts", on_delete=models.CASCADE)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "principle"], name="verdict_unique"),
            models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name="verdict_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.principle_id}: {self.verdict}"


# --- custom questions -------------------------------------------------------------


class QuestionType(models.TextChoices):
    SINGLE_CHOICE = "single_choice", "Single choice"
    MULTI_LABEL = "multi_label", "Multi-label"
    RATING = "rating", "Rating"
    TEXT = "text", "Free text"


class QuestionTarget(models.TextChoices):
    ITEM = "item", "The item"
    RESPONSE = "response", "Each response"


class Question(models.Model):
    """A project's own question, asked beside the item's kind (a taxonomy
    label, a rating, a note). Its identity (``key``, ``type``, ``target``)
    never changes once created; what annotators see (wording, options, scale,
    required, kinds) lives in its :class:`QuestionVersion` rows, and
    ``current`` is the one in use. A retired question keeps its answers for
    audits and exports but is no longer asked."""

    project = models.ForeignKey(Project, related_name="questions", on_delete=models.CASCADE)
    key = models.SlugField(max_length=64, help_text="Stable name: the export column and API field.")
    type = models.CharField(max_length=16, choices=QuestionType.choices)
    target = models.CharField(max_length=16, choices=QuestionTarget.choices, default=QuestionTarget.ITEM)
    position = models.PositiveSmallIntegerField(default=0)
    current = models.ForeignKey("QuestionVersion", null=True, blank=True, related_name="+", on_delete=models.SET_NULL)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="question_unique_key"),
            models.CheckConstraint(condition=Q(type__in=QuestionType.values), name="question_type_valid"),
            models.CheckConstraint(condition=Q(target__in=QuestionTarget.values), name="question_target_valid"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class QuestionVersion(models.Model):
    """One version of a question's definition, written once; an edit adds the
    next version and answers keep the version they were given under.

    ``options`` (single choice and multi-label): a list of
    ``{"value", "label", "description", "parent"}``, flat, in display order;
    a taxonomy's subcategories are options whose ``parent`` is their
    category's value. ``scale`` (rating): answers are 1..scale, with
    ``low_label`` / ``high_label`` at the ends. ``kinds``: the item kinds the
    question is asked on."""

    question = models.ForeignKey(Question, related_name="versions", on_delete=models.CASCADE)
    number = models.PositiveIntegerField()
    label = models.CharField(max_length=300, help_text="The question as annotators read it.")
    description = models.TextField(blank=True)
    required = models.BooleanField(default=False)
    kinds = models.JSONField(default=default_kinds)
    options = models.JSONField(default=list, blank=True)
    scale = models.PositiveSmallIntegerField(null=True, blank=True)
    low_label = models.CharField(max_length=100, blank=True)
    high_label = models.CharField(max_length=100, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True, help_text="Free text: most characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["question", "number"]
        constraints = [
            models.UniqueConstraint(fields=["question", "number"], name="question_version_unique_number"),
            models.CheckConstraint(condition=Q(scale__isnull=True) | Q(scale__gte=2), name="question_scale_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.question_id} v{self.number}"

    @property
    def values(self) -> list[str]:
        return [o["value"] for o in self.options]


class Answer(models.Model):
    """One answer to a question, given in one annotation, stored typed:
    ``choice`` (single choice: an option's value), ``labels`` (multi-label:
    the selected options' values, an array column, possibly empty), ``rating``
    (1..scale) or ``text``. ``type`` repeats the question's type so the
    database checks the right column is set. ``response`` is set when the
    question targets each response (one answer per response), else null.
    ``consistent`` is the answer's own position check: an algorithmic judge
    asks a question whose prompt shows two or more responses in both orders,
    and the answer is ``False`` when the orders disagree (or it is a panel
    jury's aggregate, a record beside the members' answers); ``None`` when
    nothing was checked (people, imports, a question about one response).
    An answer with ``consistent=False`` is never a vote
    (``curation.consensus.answer_counts``)."""

    annotation = models.ForeignKey(Annotation, related_name="answers", on_delete=models.CASCADE)
    question = models.ForeignKey(Question, related_name="answers", on_delete=models.CASCADE)
    version = models.ForeignKey(QuestionVersion, related_name="answers", on_delete=models.RESTRICT)
    response = models.ForeignKey(Response, null=True, blank=True, related_name="answers", on_delete=models.CASCADE)
    type = models.CharField(max_length=16, choices=QuestionType.choices)
    choice = models.CharField(max_length=100, blank=True)
    labels = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    text = models.TextField(blank=True)
    consistent = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "question", "response"], nulls_distinct=False, name="answer_unique"
            ),
            models.CheckConstraint(
                condition=(
                    (Q(type="single_choice") & ~Q(choice="") & Q(rating__isnull=True) & Q(labels=[]) & Q(text=""))
                    | (Q(type="multi_label") & Q(choice="") & Q(rating__isnull=True) & Q(text=""))
                    | (Q(type="rating") & Q(choice="") & Q(rating__gte=1) & Q(labels=[]) & Q(text=""))
                    | (Q(type="text") & Q(choice="") & Q(rating__isnull=True) & Q(labels=[]) & ~Q(text=""))
                ),
                name="answer_typed_value",
            ),
        ]
        indexes = [models.Index(fields=["question", "annotation"], name="answer_question_idx")]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.value}"

    @property
    def value(self):
        """The typed value: a str, a list of str, an int or a str."""
        return {
            QuestionType.SINGLE_CHOICE: self.choice,
            QuestionType.MULTI_LABEL: list(self.labels),
            QuestionType.RATING: self.rating,
            QuestionType.TEXT: self.text,
        }[self.type]
