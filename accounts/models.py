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
