"""API tokens and project invitations.

API tokens: knox's hashed, expiring tokens with a name, a public id and
the time of last use.

``ApiToken`` is built on django-rest-knox's abstract token (SHA-512 digest as
primary key, the first characters as ``token_key`` for lookup, ``created``,
``expiry``; knox's manager makes the random token and stores only its
digest). It is a model of its own rather than knox's swappable
``KNOX_TOKEN_MODEL``: swapping makes knox's first migration depend on this
app, which a database where knox's tables already exist refuses
(``InconsistentMigrationHistory``). Tokens made before this model existed were
copied over by this app's first migration.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from knox.models import AbstractAuthToken

NAME_MAX_LENGTH = 100


class ApiToken(AbstractAuthToken):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        # tokens_for_user lists a user's tokens, newest first
        indexes = [models.Index(fields=["user", "-created"], name="apitoken_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.name or 'token'} {self.token_key}… ({self.user})"

    @property
    def prefix(self) -> str:
        """What the page shows to tell tokens apart (the lookup key, never the secret part after it)."""
        return self.token_key


class Invitation(models.Model):
    """A link that lets people join a project with a role: single-use or for
    up to ``max_uses`` people, until ``expires_at``, unless revoked.

    Only the SHA-256 digest of the link's secret is stored (like API
    tokens); the link itself is shown once, to the owner who made it.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)  # sha256 hex of the secret in the link
    prefix = models.CharField(max_length=8)  # the secret's first characters, to tell links apart
    note = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_by = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="invitations_accepted")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(max_uses__gte=1), name="invitation_max_uses_positive"),
            models.CheckConstraint(condition=models.Q(uses__lte=models.F("max_uses")), name="invitation_uses_within"),
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "curator", "annotator", "researcher"]),
                name="invitation_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.prefix}… to {self.project_id} as {self.role}"

    def state(self, now=None) -> str:
        """``active``, ``revoked``, ``expired`` or ``used``."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.uses >= self.max_uses:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return "active"


class CrowdLink(models.Model):
    """A project's open enrolment link for a crowd study:
    ``/join/<token>/?<participant_param>=<external id>``. Whoever opens it
    gets (or resumes) an annotator account bound to the external id, with no
    password, and after ``items_required`` judgments (or when no item is
    left for them) the ``completion_code`` and the ``return_url``."""

    project = models.OneToOneField("annotate.Project", on_delete=models.CASCADE, related_name="crowd_link")
    token = models.CharField(max_length=64, unique=True)  # in the public link: it opens enrolment, no account
    enabled = models.BooleanField(default=True)
    participant_param = models.CharField(max_length=64, default="participant")
    items_required = models.PositiveIntegerField(default=10)
    completion_code = models.CharField(max_length=100)
    return_url = models.URLField(max_length=500, blank=True)
    # Optional qualification: this many gold items (items a curator resolved) answered
    # before real work; below the accuracy, the participant is stopped.
    qualification_items = models.PositiveIntegerField(default=0)
    qualification_min_accuracy = models.FloatField(default=0.8)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(items_required__gte=1), name="crowdlink_items_positive"),
            models.CheckConstraint(
                condition=models.Q(qualification_min_accuracy__gte=0) & models.Q(qualification_min_accuracy__lte=1),
                name="crowdlink_accuracy_range",
            ),
        ]

    def __str__(self) -> str:
        return f"crowd link of {self.project_id}"


class CrowdParticipant(models.Model):
    """One crowd participant: their external id (e.g. a Prolific PID) and the account made for it."""

    link = models.ForeignKey(CrowdLink, on_delete=models.CASCADE, related_name="participants")
    external_id = models.CharField(max_length=200)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crowd_participant")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Qualification answers {item uuid: answer}; qualified None until decided.
    qualification = models.JSONField(default=dict, blank=True)
    qualified = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "external_id"], name="crowdparticipant_unique_external_id"),
        ]

    def __str__(self) -> str:
        return f"participant {self.external_id} of {self.link_id}"
