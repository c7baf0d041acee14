"""API tokens: knox's hashed, expiring tokens with a name, a public id and
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
