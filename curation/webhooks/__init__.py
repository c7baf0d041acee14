"""Webhooks: a project's events POSTed as signed JSON to its subscribers' URLs.

Events (``WebhookEventType``): ``export.succeeded``, ``export.failed``,
``job.finished``, ``audit.finished`` (from the one place a job ends,
``curation.jobs.lifecycle``), ``annotation.created`` (batched: the
annotations recorded in a project during ``DOCKET_WEBHOOK_BATCH_SECONDS``,
noted on commit by ``annotate.services.annotations``) and ``item.completed``
(an item that got its judgments, found in the same batches).

* ``events``: ``webhook_emit`` (one ``WebhookEvent`` row, one
  ``WebhookDelivery`` per subscribed active hook, queued on commit) and the
  emitters above;
* ``delivery``: the payload, its signature and one attempt to deliver;
* ``tasks``: the Celery task that delivers, retrying with exponential
  backoff;
* ``urlcheck``: which URLs a hook may have (no loopback, private,
  link-local or otherwise reserved address unless
  ``DOCKET_WEBHOOK_ALLOW_PRIVATE``);
* ``services``: create, change, delete a hook, redeliver a delivery;
  ``selectors``: reads for the pages and the API; ``views``/``urls``: the
  page ``/p/<slug>/curate/webhooks/`` (owners and curators).

A delivery is a POST of ``{"id", "type", "created_at", "project", "data"}``
with the headers ``Docket-Event``, ``Docket-Event-Id``, ``Docket-Delivery``,
``Docket-Timestamp`` and ``Docket-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``"<timestamp>.<body>"`` under the hook's secret. A 2xx answer
delivers it; anything else (or no answer) is retried. Delivery is at least
once: a receiver that must not act twice keeps the event ids it has seen.
"""
