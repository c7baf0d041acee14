"""docket-client against a live Docket: log in, read, audit, export through a
real Celery worker, download with sha256 checks, load into ``datasets`` and
pass the rows through TRL's DPO data utilities; errors carry the API's shape."""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from docket_client import (
    AuthenticationError,
    ChecksumMismatch,
    Client,
    Item,
    JobFailed,
    NotFound,
    RateLimited,
    ValidationError,
    Webhook,
    verify_signature,
)

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True)]


def login(lab, role: str) -> Client:
    return Client.login(lab["url"], lab["people"][role].username, PASSWORD, token_name=f"tests {role}")


def test_login_projects_and_paginated_items(lab):
    with login(lab, "researcher") as client:
        assert [(p.slug, p.role, p.item_count) for p in client.projects()] == [("lab", "researcher", 5)]
        project = client.project("lab")
        items = list(project.items(page_size=2))  # three pages
        assert len(items) == 5 and all(isinstance(i, Item) for i in items)
        assert len({i.id for i in items}) == 5
        first = next(i for i in items if i.id == str(lab["voted"][0].uuid))
        assert [r.text for r in first.responses] == ["Good answer 0.", "Poor answer 0."]
        assert [r.position for r in first.responses] == [0, 1]
        assert {i.id for i in project.items(kind="thumb")} == set()
        names = [t["name"] for t in client.tokens()]
        assert names == ["tests researcher"]


def test_errors_carry_the_api_error_shape(lab):
    with pytest.raises(AuthenticationError) as wrong:
        Client.login(lab["url"], lab["people"]["researcher"].username, "not the password")
    assert wrong.value.code == "invalid_credentials"
    with pytest.raises(AuthenticationError) as bad_token:
        Client(lab["url"], "dkt_" + "0" * 64).projects()
    assert (bad_token.value.status, bad_token.value.code) == (401, "authentication_failed")
    client = login(lab, "researcher")
    with pytest.raises(NotFound) as missing:
        client.project("no-such-project")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    with pytest.raises(NotFound):
        login(lab, "outsider").project("lab")  # outsiders get 404, not 403
    with pytest.raises(ValidationError) as invalid:
        client.project("lab").export(format="dpo", min_agreement=1.5, colour="red")
    assert set(invalid.value.fields) == {"min_agreement", "colour"}
    assert invalid.value.status == 400 and "min_agreement" in str(invalid.value)


@pytest.mark.worker
def test_audit_items_with_response_texts(lab, live_worker):
    from curation.audit.services import audit_create

    client = login(lab, "researcher")
    project = client.project("lab")
    with pytest.raises(NotFound) as none_yet:
        project.audit()
    assert none_yet.value.code == "no_audit"
    from annotate.models import Annotation, Principle
    from tests.factories import make_verdict

    honest = Principle.objects.create(project=lab["project"], name="honest")
    for index, item in enumerate(lab["voted"]):  # the two voters split on the first item only
        for who, annotation in enumerate(Annotation.objects.filter(item=item).order_by("id")):
            verdict = "B" if index == 0 and who == 1 else "A"
            make_verdict(annotation=annotation, principle=honest, verdict=verdict)
    from annotate.models import Answer
    from curation.projects.questions import question_add

    hazard = question_add(project=lab["project"], user=None, spec={"key": "hazard", "type": "multi_label",
                          "label": "Hazards", "options": ["violence", "hate"]})  # fmt: skip
    for index, item in enumerate(lab["voted"]):
        for who, annotation in enumerate(Annotation.objects.filter(item=item).order_by("id")):
            labels = ["violence"] if (index + who) % 2 else []
            Answer.objects.create(annotation=annotation, question=hazard, version=hazard.current,
                                  type="multi_label", labels=labels)  # fmt: skip
    job = audit_create(project=lab["project"], user=None, params={"n_boot": 20})
    client.job(str(job.uuid)).wait(timeout=180, poll_interval=0.5)
    (asked,) = project.audit_questions(type="multi_label")
    assert (asked.key, asked.level, asked.n_answers) == ("hazard", "masi", 8)
    assert [c["value"] for c in asked.categories] == ["violence", "hate"]
    assert asked.alpha == asked.raw["alpha"]["alpha"] and project.audit_questions(question="nope") == []
    (everyone,) = project.audit_principles(group="all")
    assert (everyone.principle, everyone.kind, everyone.n_items, everyone.split_share) == (
        "honest",
        "pairwise",
        4,
        0.25,
    )
    assert everyone.alpha is not None and everyone.top_split[0]["item"] == str(lab["voted"][0].uuid)
    assert [p.group for p in project.audit_principles(principle="honest")] == ["all", "human"]
    summary = project.audit()
    assert summary.item_count == 5 and "alpha" in summary.summary
    rows = list(project.audit_items(ordering="-disagreement", prompt=True))
    assert len(rows) == 5
    judged = {row.item_id: row for row in rows if row.chosen}
    assert set(judged) == {str(item.uuid) for item in lab["voted"]}
    for index, item in enumerate(lab["voted"]):
        row = judged[str(item.uuid)]
        assert (row.chosen_text, row.rejected_text) == (f"Good answer {index}.", f"Poor answer {index}.")
        assert row.prompt == item.prompt.messages
    bare = next(project.audit_items(responses=False, limit=1))
    assert bare.responses is None and bare.chosen_text is None


@pytest.mark.worker
def test_export_wait_download_and_load_into_datasets_and_trl(lab, live_worker, tmp_path, capsys):
    from datasets import DatasetDict
    from transformers import AutoTokenizer
    from trl.data_utils import is_conversational, maybe_apply_chat_template, maybe_extract_prompt

    from curation.llm.runtime import default_gguf_path

    client = login(lab, "researcher")
    job = client.project("lab").export(format="dpo", test_fraction=0.5, seed=7, name="client v1")
    assert job.kind == "export" and job.status in ("queued", "running", "succeeded")
    done = job.wait(timeout=180, poll_interval=0.3, progress=True)
    assert "export" in capsys.readouterr().err  # the tqdm bar
    assert done.status == "succeeded" and done.progress.percent == 100
    dataset = done.dataset()
    assert (dataset.name, dataset.format, dataset.row_count) == ("client v1", "dpo", 4)
    assert dataset.filters["test_fraction"] == 0.5

    paths = dataset.download(tmp_path / "download")
    for f in dataset.files:
        assert hashlib.sha256(paths[f.name].read_bytes()).hexdigest() == f.sha256
    assert {"README.md", "manifest.json"} <= set(paths)

    ds = dataset.to_datasets(cache_dir=tmp_path / "cache")
    assert isinstance(ds, DatasetDict)
    assert set(ds) == {f.split for f in dataset.files} and sum(len(split) for split in ds.values()) == 4
    rows = [row for split in ds.values() for row in split]
    assert sorted(row["chosen"][-1]["content"] for row in rows) == [f"Good answer {i}." for i in range(4)]

    # TRL's DPO data utilities take the rows as they come.
    row = rows[0]
    assert is_conversational(row)
    assert maybe_extract_prompt(row)["prompt"] == row["prompt"]
    gguf = default_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    templated = next(iter(ds.values())).map(maybe_apply_chat_template, fn_kwargs={"processing_class": tokenizer})
    first = templated[0]
    assert first["prompt"].rstrip().endswith("<|im_start|>assistant")
    assert first["chosen"].startswith("Good answer") and first["rejected"].startswith("Poor answer")


@pytest.mark.worker
def test_a_tampered_file_fails_its_checksum_and_is_not_kept(lab, live_worker, tmp_path, settings):
    client = login(lab, "researcher")
    dataset = client.project("lab").export(format="dpo").wait(timeout=180, poll_interval=0.3).dataset()
    data = next(f for f in dataset.files if f.format == "jsonl")
    on_server = settings.DOCKET_EXPORT_DIR / dataset.id / data.name
    on_server.write_bytes(on_server.read_bytes().replace(b"Good answer", b"Evil answer"))
    with pytest.raises(ChecksumMismatch):
        dataset.download(tmp_path / "dl", file_format="jsonl")
    assert not (tmp_path / "dl" / data.name).exists()
    assert not list((tmp_path / "dl").rglob("*.part"))


def test_a_cancelled_export_raises_job_failed(lab):
    from curation.exports.services import export_create
    from curation.jobs.lifecycle import job_cancel

    queued = export_create(
        project=lab["project"], user=lab["people"]["researcher"], params={"format": "dpo", "options": {}}, enqueue=False
    )
    job = login(lab, "researcher").job(str(queued.uuid))
    assert job.status == "queued"
    job_cancel(job=queued)  # a queued job is cancelled at once
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=30, poll_interval=0.1)
    assert failed.value.job.status == "cancelled" and failed.value.code == "job_cancelled"


def test_annotate_external_is_idempotent_and_for_curators(lab):
    curator = login(lab, "curator").project("lab")
    fresh = str(lab["fresh"].uuid)
    key = uuid.uuid4()
    first = curator.annotate_external(
        fresh, annotator="length-judge", model_name="heuristic-v1", choice="B", rationale="longer", idempotency_key=key
    )
    again = curator.annotate_external(fresh, annotator="length-judge", model_name="heuristic-v1", choice="B",
                                      idempotency_key=key)  # fmt: skip
    assert first.id == again.id and first.choice == "B"
    assert (first.annotator.type, first.annotator.name) == ("model", "length-judge")
    listed = list(login(lab, "researcher").project("lab").annotations(item=fresh))
    assert [a.id for a in listed] == [first.id]
    with pytest.raises(NotFound):  # researchers read, they do not annotate
        login(lab, "researcher").project("lab").annotate_external(fresh, annotator="x", model_name="y", choice="A")
    with pytest.raises(ValidationError) as invalid:
        curator.annotate_external(
            str(lab["voted"][0].uuid), annotator="j", model_name="m", choice="A", verdicts={"nope": "A"}
        )
    assert "verdicts" in invalid.value.fields


def test_annotate_as_a_person_must_answer_the_required_questions(lab):
    from curation.projects.questions import question_add

    question_add(project=lab["project"], user=None, spec={"key": "helpful", "type": "rating", "label": "Helpful?",
                                                          "scale": 5, "required": True})  # fmt: skip
    curator = login(lab, "curator").project("lab")
    fresh = str(lab["fresh"].uuid)
    with pytest.raises(ValidationError) as invalid:
        curator.annotate(fresh, choice="A")
    assert invalid.value.fields == {"answers.helpful": ["required"]}
    assert list(login(lab, "researcher").project("lab").annotations(item=fresh)) == []
    mine = curator.annotate(fresh, choice="A", answers={"helpful": 4})
    assert (mine.annotator.type, mine.answers) == ("human", {"helpful": 4})
    # An external annotator is not asked for them.
    assert curator.annotate_external(fresh, annotator="j", model_name="m", choice="B").annotator.type == "model"


@pytest.fixture
def private_hooks(monkeypatch, settings):
    """Webhooks to 127.0.0.1 allowed, here (the live server) and in the worker (its environment)."""
    for name, value in {"DOCKET_WEBHOOK_ALLOW_PRIVATE": "true", "DOCKET_WEBHOOK_SUBSCRIBERS_TTL": "0"}.items():
        monkeypatch.setenv(name, value)
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    settings.DOCKET_WEBHOOK_SUBSCRIBERS_TTL = 0


@pytest.mark.worker
def test_a_webhook_tells_a_local_receiver_that_the_export_is_ready(private_hooks, lab, live_worker, settings):
    received: queue.Queue = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        curator = login(lab, "curator").project("lab")
        settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = False
        with pytest.raises(ValidationError) as private:
            curator.add_webhook(f"http://127.0.0.1:{server.server_port}/", ["export.succeeded"])
        assert "url" in private.value.fields
        settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
        with pytest.raises(ValidationError) as unknown:
            curator.add_webhook(f"http://127.0.0.1:{server.server_port}/", ["export.done"])
        assert "events" in unknown.value.fields
        hook = curator.add_webhook(
            f"http://127.0.0.1:{server.server_port}/docket", ["export.succeeded"], description="ci"
        )
        assert isinstance(hook, Webhook) and hook.active and hook.events == ["export.succeeded"] and hook.secret
        assert [h.id for h in curator.webhooks()] == [hook.id]
        researcher = login(lab, "researcher")
        with pytest.raises(NotFound):  # researchers read data; hooks are the curators'
            researcher.project("lab").webhooks()

        dataset = researcher.project("lab").export(format="dpo").wait(timeout=180, poll_interval=0.3).dataset()
        headers, body = received.get(timeout=60)
        assert verify_signature(hook.secret, body, headers["Docket-Timestamp"], headers["Docket-Signature"])
        assert not verify_signature(hook.secret, body + b" ", headers["Docket-Timestamp"], headers["Docket-Signature"])
        assert not verify_signature("whsec_other", body, headers["Docket-Timestamp"], headers["Docket-Signature"])
        later = time.time() + 3600  # a replay an hour on
        assert not verify_signature(
            hook.secret, body, headers["Docket-Timestamp"], headers["Docket-Signature"], now=later
        )
        event = json.loads(body)
        assert (event["type"], event["data"]["dataset"]["id"]) == ("export.succeeded", dataset.id)
        assert event["id"] == headers["Docket-Event-Id"]

        curator_client = login(lab, "curator")
        deadline = time.monotonic() + 30
        while not (deliveries := curator_client.webhook_deliveries(hook.id)) or deliveries[0].status != "succeeded":
            assert time.monotonic() < deadline, deliveries
            time.sleep(0.2)
        assert [(d.event, d.status, d.response_status, d.event_id) for d in deliveries] == [
            ("export.succeeded", "succeeded", 204, event["id"])
        ]
        curator_client.delete_webhook(hook.id)
        assert curator.webhooks() == []
    finally:
        server.shutdown()
        server.server_close()


def test_annotate_external_with_answers_to_custom_questions(lab):
    from curation.projects.questions import question_add

    project = lab["fresh"].project
    question_add(project=project, user=None, spec={"key": "helpful", "type": "rating", "label": "Helpful?", "scale": 5})
    curator = login(lab, "curator").project("lab")
    fresh = str(lab["fresh"].uuid)
    with pytest.raises(ValidationError) as invalid:
        curator.annotate_external(fresh, annotator="j", model_name="m", choice="A", answers={"helpful": 6})
    assert "answers.helpful" in invalid.value.fields
    stored = curator.annotate_external(fresh, annotator="j", model_name="m", choice="A", answers={"helpful": 4})
    assert stored.answers == {"helpful": 4}
    listed = list(login(lab, "researcher").project("lab").annotations(item=fresh))
    assert [a.answers for a in listed] == [{"helpful": 4}]


def test_throttling_is_retried_after_retry_after():
    """Retry-After handling on its own (the live server's throttle is far above what a test can reach)."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            return httpx.Response(
                429,
                headers={"Retry-After": "0"},
                json={"error": {"status": 429, "code": "throttled", "message": "slow down"}},
            )
        return httpx.Response(200, json={"username": "r", "projects": {}})

    client = Client("http://docket.invalid", "dkt_x", transport=httpx.MockTransport(handler))
    assert client.me() == {"username": "r", "projects": {}}
    assert calls == ["/api/v1/me/"] * 3
    never = Client("http://docket.invalid", "dkt_x", retries=0, transport=httpx.MockTransport(handler))
    calls.clear()
    with pytest.raises(RateLimited) as throttled:
        never.me()
    assert (throttled.value.retry_after, throttled.value.code) == (0.0, "throttled")
