"""Webhooks: URL checks, signatures, delivery with retries and auto-disable,
the page and the API with their denials, and a real worker delivering every
event once to a real HTTP receiver (a thread running ``http.server``)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Annotator, Item
from annotate.services.annotations import AnnotationInput, annotation_record
from curation.audit.services import audit_create
from curation.exports.services import export_create
from curation.jobs.services import job_create
from curation.models import Job, JobKind, Webhook, WebhookDelivery, WebhookEvent, WebhookEventType
from curation.webhooks.delivery import event_body, sign, webhook_attempt
from curation.webhooks.events import subscribers_forget, webhook_emit
from curation.webhooks.services import webhook_create, webhook_redeliver
from curation.webhooks.urlcheck import webhook_url_check
from tests.factories import AnnotatorFactory, make_item
from tests.readme_snippets import verify_signature

ALL_EVENTS = list(WebhookEventType.values)
CURATORS = ("owner", "curator")
DENIED = ("researcher", "annotator", "outsider")


class Receiver:
    """A local HTTP server recording every request; ``fail_first`` answers 500 to the first N."""

    def __init__(self, fail_first: int = 0, always: int | None = None) -> None:
        self.requests: list[dict] = []
        self.fail_first = fail_first
        self.always = always
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                n = len(receiver.requests)
                status = receiver.always or (500 if n < receiver.fail_first else 200)
                receiver.requests.append({"headers": dict(self.headers), "body": body, "status": status})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"boom")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["status"] == 200]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def allow_private(settings):
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    settings.DOCKET_WEBHOOK_RETRY_SECONDS = 0.05
    settings.DOCKET_WEBHOOK_SUBSCRIBERS_TTL = 0
    subscribers_forget()


# ----------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_private_loopback_and_link_local_urls_are_refused(settings, url):
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as caught:
        webhook_url_check(url)
    assert "url" in caught.value.message_dict and "DOCKET_WEBHOOK_ALLOW_PRIVATE" in str(caught.value)
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    webhook_url_check(url)  # allowed when the setting says so


@pytest.mark.parametrize("url", ["ftp://example.org/", "http:///nohost", "not a url", "http://user:pw@8.8.8.8/"])
def test_malformed_urls_are_refused_whatever_the_setting(settings, url):
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(ValidationError):
        webhook_url_check(url)


def test_a_public_address_passes_and_an_unknown_host_does_not(settings):
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = False
    webhook_url_check("https://8.8.8.8/hooks/docket")
    with pytest.raises(ValidationError, match="does not resolve"):
        webhook_url_check("https://no-such-host.invalid/")


# ----------------------------------------------------------------- signing and delivery, in this process


def test_the_signature_is_hmac_sha256_of_timestamp_and_body_and_the_readme_check_accepts_it():
    body = b'{"id":"x"}'
    header = sign("whsec_test", 1700000000, body)
    assert header == "sha256=" + __import__("hmac").new(b"whsec_test", b"1700000000." + body, "sha256").hexdigest()
    now = 1700000000 + 10
    assert verify_signature("whsec_test", body, "1700000000", header, now=now)
    assert not verify_signature("whsec_other", body, "1700000000", header, now=now)
    assert not verify_signature("whsec_test", body + b" ", "1700000000", header, now=now)
    assert not verify_signature("whsec_test", body, "1700000000", header, now=1700000000 + 3600)  # too old


@pytest.mark.django_db
def test_a_failed_attempt_is_retried_with_backoff_then_delivered(project, allow_private, settings):
    settings.DOCKET_WEBHOOK_RETRY_SECONDS = 2
    receiver = Receiver(fail_first=2)
    try:
        hook = webhook_create(project=project, user=None, url=receiver.url, events=["job.finished"])
        event = webhook_emit(project=project, type="job.finished", data={"job": {"id": "j"}})
        delivery = WebhookDelivery.objects.get(event=event)
        assert webhook_attempt(delivery_id=delivery.pk) == 2.0
        assert webhook_attempt(delivery_id=delivery.pk) == 4.0  # exponential
        assert webhook_attempt(delivery_id=delivery.pk) is None
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 3, 200)
        assert [r["status"] for r in receiver.requests] == [500, 500, 200]
        assert webhook_attempt(delivery_id=delivery.pk) is None and len(receiver.requests) == 3  # not sent again
        for r in receiver.requests:
            h = r["headers"]
            assert h["Docket-Event"] == "job.finished" and h["Docket-Event-Id"] == str(event.uuid)
            assert verify_signature(hook.secret, r["body"], h["Docket-Timestamp"], h["Docket-Signature"])
        assert json.loads(receiver.requests[0]["body"]) == json.loads(event_body(event))
    finally:
        receiver.close()


@pytest.mark.django_db
def test_repeated_failed_deliveries_switch_the_hook_off(project, allow_private, settings):
    settings.DOCKET_WEBHOOK_MAX_ATTEMPTS = 2
    settings.DOCKET_WEBHOOK_DISABLE_AFTER = 2
    receiver = Receiver(always=500)
    try:
        hook = webhook_create(project=project, user=None, url=receiver.url, events=["job.finished"])
        for n in range(2):
            delivery = WebhookDelivery.objects.get(
                event=webhook_emit(project=project, type="job.finished", data={"n": n})
            )
            while webhook_attempt(delivery_id=delivery.pk) is not None:
                pass
            delivery.refresh_from_db()
            assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 2, 500)
        hook.refresh_from_db()
        assert not hook.active and hook.consecutive_failures == 2 and "2 failed deliveries" in hook.disabled_reason
        assert webhook_emit(project=project, type="job.finished", data={}) is None  # nobody listens now
        with pytest.raises(ValidationError):
            webhook_redeliver(delivery=delivery)
    finally:
        receiver.close()


@pytest.mark.django_db
def test_a_delivery_to_a_url_that_now_resolves_privately_fails_without_sending(project, allow_private, settings):
    hook = webhook_create(project=project, user=None, url="http://127.0.0.1:9/hook", events=["job.finished"])
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = False
    delivery = WebhookDelivery.objects.get(event=webhook_emit(project=project, type="job.finished", data={}))
    assert webhook_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "loopback" in delivery.error and delivery.response_status is None
    assert hook.pk


@pytest.mark.django_db
def test_an_event_with_a_dedupe_key_is_emitted_once(project, allow_private):
    webhook_create(project=project, user=None, url="http://127.0.0.1:9/", events=["item.completed"])
    assert webhook_emit(project=project, type="item.completed", data={}, dedupe_key="i:2") is not None
    assert webhook_emit(project=project, type="item.completed", data={}, dedupe_key="i:2") is None
    assert webhook_emit(project=project, type="job.finished", data={}) is None  # not subscribed
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_submit_stays_one_statement_and_its_annotation_is_noted_once_committed(
    project, allow_private, django_capture_on_commit_callbacks
):
    from django.core.cache import cache
    from django.db import connection
    from django.db.models import prefetch_related_objects
    from django.test.utils import CaptureQueriesContext

    from annotate.services.assignment import annotator_for_user, assignment_next
    from curation.webhooks.events import _batch_keys
    from tests.factories import UserFactory

    webhook_create(project=project, user=None, url="http://127.0.0.1:9/hook", events=["annotation.created"])
    listed, flag = _batch_keys(project.pk)
    cache.redis_client().delete(listed)
    cache.set(flag, 1)  # a flush already scheduled: the test reads the batch before any flush takes it
    make_item(project, kind="pairwise")
    annotator = annotator_for_user(UserFactory())
    lease = assignment_next(project=project, annotator=annotator)
    prefetch_related_objects([lease.item.project], "questions")  # as the submit's lease lookup leaves them
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with CaptureQueriesContext(connection) as queries:
            annotation, created = annotation_record(
                assignment=lease, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=uuid.uuid4()
            )
        statements = [q for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
        assert created and len(statements) == 1  # nothing about webhooks inside the submit
        assert cache.redis_client().lrange(listed, 0, -1) == []  # not before the commit
    assert len(callbacks) == 1
    assert [int(v) for v in cache.redis_client().lrange(listed, 0, -1)] == [annotation.pk]
    cache.redis_client().delete(listed)
    cache.delete(flag)


@pytest.mark.django_db
def test_bad_events_and_urls_name_the_field(project, allow_private, settings):
    with pytest.raises(ValidationError) as caught:
        webhook_create(project=project, user=None, url="http://127.0.0.1/", events=["export.done"])
    assert "events" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        webhook_create(project=project, user=None, url="http://127.0.0.1/", events=[])
    assert "events" in caught.value.message_dict
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as caught:
        webhook_create(project=project, user=None, url="http://127.0.0.1/", events=["job.finished"])
    assert "url" in caught.value.message_dict
    assert Webhook.objects.count() == 0


# ----------------------------------------------------------------- page


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_page_is_for_owners_and_curators_only(project, personas, allow_private):
    hook = webhook_create(project=project, user=None, url="http://127.0.0.1:9/", events=["job.finished"])
    event = webhook_emit(project=project, type="job.finished", data={})
    delivery = WebhookDelivery.objects.get(event=event)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    slug = project.slug
    gets = [reverse("webhooks:list", args=[slug]), reverse("webhooks:detail", args=[slug, hook.uuid])]
    posts = [
        (reverse("webhooks:list", args=[slug]), {"url": "http://127.0.0.1:1/", "events": ["job.finished"]}),
        (
            reverse("webhooks:detail", args=[slug, hook.uuid]),
            {"url": "http://127.0.0.1:2/", "events": ["job.finished"]},
        ),
        (reverse("webhooks:redeliver", args=[slug, hook.uuid, delivery.uuid]), {}),
        (reverse("webhooks:delete", args=[slug, hook.uuid]), {}),
    ]
    for role in DENIED:
        client = browser(personas[role])
        for url in gets:
            assert client.get(url).status_code == 404, (role, url)
        for url, data in posts:
            assert client.post(url, data).status_code == 404, (role, url)
    for url in gets:
        assert browser().get(url).status_code == 302
    assert Webhook.objects.get().url == "http://127.0.0.1:9/" and WebhookDelivery.objects.count() == 1
    for role in CURATORS:
        client = browser(personas[role])
        for url in gets:
            assert client.get(url).status_code == 200, (role, url)


@pytest.mark.django_db
def test_curators_add_change_redeliver_and_delete_on_the_page(project, personas, allow_private, settings):
    client = browser(personas["curator"])
    slug = project.slug
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = False
    refused = client.post(
        reverse("webhooks:list", args=[slug]), {"url": "http://10.0.0.1/", "events": ["job.finished"]}
    )
    assert (
        refused.status_code == 422
        and "private" in refused.content.decode()
        and 'id="error-url"' in refused.content.decode()
    )
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    none = client.post(reverse("webhooks:list", args=[slug]), {"url": "http://127.0.0.1:9/", "events": []})
    assert none.status_code == 422 and "events" in none.context["form"].errors
    made = client.post(
        reverse("webhooks:list", args=[slug]),
        {"url": "http://127.0.0.1:9/", "events": ["job.finished", "export.failed"]},
    )
    hook = Webhook.objects.get()
    assert made.status_code == 302 and made["Location"] == reverse("webhooks:detail", args=[slug, hook.uuid])
    assert hook.events == ["export.failed", "job.finished"] and hook.created_by == personas["curator"]
    page = client.get(made["Location"]).content.decode()
    assert hook.secret in page
    old_secret = hook.secret
    client.post(made["Location"], {"url": hook.url, "events": ["job.finished"], "active": "", "rotate_secret": "1"})
    hook.refresh_from_db()
    assert hook.events == ["job.finished"] and not hook.active and hook.secret != old_secret
    client.post(made["Location"], {"url": hook.url, "events": ["job.finished"], "active": "on"})
    hook.refresh_from_db()
    assert hook.active

    event = webhook_emit(project=project, type="job.finished", data={"x": 1})
    first = WebhookDelivery.objects.get(event=event)
    WebhookDelivery.objects.filter(pk=first.pk).update(status="failed", response_status=500, attempts=6)
    log = client.get(made["Location"]).content.decode()
    assert str(event.uuid) in log and ">500<" in log and "Redeliver" in log
    client.post(reverse("webhooks:redeliver", args=[slug, hook.uuid, first.uuid]))
    again = WebhookDelivery.objects.exclude(pk=first.pk).get()
    assert again.event == event and again.redelivery_of == first and again.status == "pending"
    client.post(reverse("webhooks:delete", args=[slug, hook.uuid]))
    assert not Webhook.objects.exists()


# ----------------------------------------------------------------- API


def api_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_the_api_is_for_owners_and_curators_only(project, personas, allow_private):
    hook = webhook_create(project=project, user=None, url="http://127.0.0.1:9/", events=["job.finished"])
    delivery = WebhookDelivery.objects.get(event=webhook_emit(project=project, type="job.finished", data={}))
    calls = [
        ("get", f"/api/v1/projects/{project.slug}/webhooks/", None),
        (
            "post",
            f"/api/v1/projects/{project.slug}/webhooks/",
            {"url": "http://127.0.0.1:1/", "events": ["job.finished"]},
        ),
        ("get", f"/api/v1/webhooks/{hook.uuid}/", None),
        ("patch", f"/api/v1/webhooks/{hook.uuid}/", {"active": False}),
        ("get", f"/api/v1/webhooks/{hook.uuid}/deliveries/", None),
        ("post", f"/api/v1/webhooks/{hook.uuid}/deliveries/{delivery.uuid}/redeliver/", None),
        ("delete", f"/api/v1/webhooks/{hook.uuid}/", None),
    ]
    for role in DENIED:
        client = api_for(personas[role])
        for method, url, data in calls:
            response = getattr(client, method)(url, data, format="json")
            assert response.status_code == 404, (role, method, url)
            assert response.json()["error"]["code"] == "not_found"
    for method, url, data in calls:
        assert getattr(api_for(), method)(url, data, format="json").status_code == 401
    hook.refresh_from_db()
    assert hook.active and Webhook.objects.count() == 1 and WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_the_api_creates_lists_changes_and_redelivers(project, personas, allow_private, settings):
    client = api_for(personas["owner"])
    url = f"/api/v1/projects/{project.slug}/webhooks/"
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = False
    bad = client.post(url, {"url": "http://169.254.169.254/", "events": ["job.finished"]}, format="json")
    assert bad.status_code == 400 and "url" in bad.json()["error"]["fields"]
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    bad = client.post(url, {"url": "http://127.0.0.1:9/", "events": ["nope"]}, format="json")
    assert bad.status_code == 400 and "events" in bad.json()["error"]["fields"]
    made = client.post(url, {"url": "http://127.0.0.1:9/", "events": ALL_EVENTS, "description": "ci"}, format="json")
    assert made.status_code == 201
    body = made.json()
    assert body["events"] == ALL_EVENTS and body["secret"].startswith("whsec_") and body["active"] is True
    assert [h["id"] for h in client.get(url).json()] == [body["id"]]
    changed = client.patch(f"/api/v1/webhooks/{body['id']}/", {"events": ["export.succeeded"]}, format="json")
    assert changed.json()["events"] == ["export.succeeded"]
    event = webhook_emit(project=project, type="export.succeeded", data={"dataset": {}})
    deliveries = client.get(f"/api/v1/webhooks/{body['id']}/deliveries/").json()
    assert [d["event_id"] for d in deliveries] == [str(event.uuid)] and deliveries[0]["status"] == "pending"
    again = client.post(f"/api/v1/webhooks/{body['id']}/deliveries/{deliveries[0]['id']}/redeliver/")
    assert again.status_code == 202 and again.json()["redelivery_of"] == deliveries[0]["id"]
    assert client.post(f"/api/v1/webhooks/{body['id']}/deliveries/{uuid.uuid4()}/redeliver/").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{body['id']}/").status_code == 204
    assert not Webhook.objects.exists()


# ----------------------------------------------------------------- a real worker, a real receiver


@pytest.fixture
def worker_settings(settings, tmp_path, monkeypatch):
    """What the worker (a subprocess reading the environment) and this process both use."""
    values = {
        "DOCKET_WEBHOOK_ALLOW_PRIVATE": "true",
        "DOCKET_WEBHOOK_RETRY_SECONDS": "0.2",
        "DOCKET_WEBHOOK_BATCH_SECONDS": "0.5",
        "DOCKET_WEBHOOK_SUBSCRIBERS_TTL": "0",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    settings.DOCKET_WEBHOOK_BATCH_SECONDS = 0.5
    settings.DOCKET_WEBHOOK_SUBSCRIBERS_TTL = 0
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    subscribers_forget()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_every_event_once_signed_and_retries_after_a_500(project, worker_settings, live_worker):
    receiver = Receiver(fail_first=1)  # the first request gets a 500: retried
    try:
        hook = webhook_create(project=project, user=None, url=receiver.url, events=ALL_EVENTS)
        people = [AnnotatorFactory(type=Annotator.Type.HUMAN) for _ in range(project.overlap)]
        item = make_item(project, kind="pairwise")
        for person in people:
            annotation_record(annotator=person, item=item, data=AnnotationInput(choice="A"))
        assert Item.objects.get(pk=item.pk).status == Item.Status.DONE
        export_create(project=project, user=None, params={"format": "dpo", "options": {}})
        job_create(project=project, kind=JobKind.EXPORT, params={"format": "nope"}, user=None)  # fails: export.failed
        audit_create(project=project, user=None, params={})

        wanted = {
            "annotation.created": 1,
            "item.completed": 1,
            "export.succeeded": 1,
            "export.failed": 1,
            "audit.finished": 1,
            "job.finished": 3,
        }

        def all_delivered():
            got: dict[str, int] = {}
            for body in receiver.delivered():
                got[body["type"]] = got.get(body["type"], 0) + 1
            return got == wanted and not WebhookDelivery.objects.filter(status="pending").exists()

        live_worker.wait_for(all_delivered, timeout=120, what=f"every event delivered (got {receiver.delivered()})")
        time.sleep(1.5)  # nothing else arrives late
        delivered = receiver.delivered()
        assert len({b["id"] for b in delivered}) == len(delivered) == sum(wanted.values())  # each event once
        assert receiver.requests[0]["status"] == 500
        retried = WebhookDelivery.objects.filter(attempts=2)
        assert retried.count() == 1 and retried.get().status == "succeeded"
        assert WebhookDelivery.objects.filter(status="succeeded").count() == sum(wanted.values())
        for r in receiver.requests:
            h = r["headers"]
            assert verify_signature(hook.secret, r["body"], h["Docket-Timestamp"], h["Docket-Signature"])
            assert json.loads(r["body"])["id"] == h["Docket-Event-Id"]
        by_type = {b["type"]: b for b in delivered}
        assert by_type["annotation.created"]["data"]["count"] == len(people)
        assert by_type["item.completed"]["data"]["item"]["id"] == str(item.uuid)
        dataset = by_type["export.succeeded"]["data"]["dataset"]
        assert dataset["row_count"] == 1 and dataset["archive_path"].endswith("/archive/")
        assert by_type["export.failed"]["data"]["job"]["status"] == "failed"
        assert {b["data"]["job"]["kind"] for b in delivered if b["type"] == "job.finished"} == {"export", "audit"}
        assert Job.objects.filter(status__in=["succeeded", "failed"]).count() == 3
        assert os.environ["DOCKET_WEBHOOK_ALLOW_PRIVATE"] == "true"
    finally:
        receiver.close()
