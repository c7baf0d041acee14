"""Webhooks: a project's subscriptions (owners and curators) and the check a receiver makes.

Docket POSTs each event as JSON with ``Docket-Timestamp`` and
``Docket-Signature: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>``
under the hook's secret; :func:`verify_signature` is that check (the same
code as the README's snippet, for receivers without this package).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .models import _time

EVENTS = ("export.succeeded", "export.failed", "job.finished", "annotation.created", "item.completed", "audit.finished")


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str | int,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300,
) -> bool:
    """True when ``signature`` (the ``Docket-Signature`` header) signs ``body`` (the raw request
    bytes) at ``timestamp`` (``Docket-Timestamp``) under ``secret``, and the timestamp is within
    ``tolerance`` seconds of ``now`` (a replayed old request fails)."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs((time.time() if now is None else now) - sent) <= tolerance
    return fresh and hmac.compare_digest(expected, signature or "")


@dataclass(frozen=True)
class Webhook:
    """A project's webhook: where its events go, which ones, and the secret that signs them."""

    id: str
    project: str
    url: str
    events: list[str]
    secret: str
    active: bool
    description: str
    consecutive_failures: int
    disabled_reason: str
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Webhook:
        return cls(
            id=data["id"],
            project=data.get("project", ""),
            url=data["url"],
            events=list(data.get("events") or []),
            secret=data.get("secret", ""),
            active=bool(data.get("active")),
            description=data.get("description", ""),
            consecutive_failures=int(data.get("consecutive_failures") or 0),
            disabled_reason=data.get("disabled_reason", ""),
            created_at=_time(data.get("created_at")),
            raw=data,
        )


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery of an event to a hook: its status, attempts and the receiver's answer."""

    id: str
    event_id: str
    event: str
    status: str
    attempts: int
    response_status: int | None
    error: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> WebhookDelivery:
        return cls(
            id=data["id"],
            event_id=data.get("event_id", ""),
            event=data.get("event", ""),
            status=data.get("status", ""),
            attempts=int(data.get("attempts") or 0),
            response_status=data.get("response_status"),
            error=data.get("error", ""),
            raw=data,
        )
