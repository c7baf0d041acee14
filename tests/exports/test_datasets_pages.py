"""The datasets pages (``/p/<slug>/datasets/``): who may open them, the export
form generated from ``EXPORT_OPTIONS``, the live count (the export job's own
code, so it equals what the job then writes), field errors, the launch, the
job's progress, the dataset page with its snippets, and the downloads (one
file, the whole dataset as a streamed ``.tar`` with ETag / 304; the API's
archive gives the same bytes)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Annotation, Annotator
from curation.exports.options import ALIASES, EXPORT_OPTIONS
from curation.exports.runner import export_preview
from curation.jobs.runner import run_job
from curation.models import Dataset, Job
from tests.api.builders import make_dataset
from tests.factories import AnnotatorFactory, ProjectFactory, make_item

READERS = ("owner", "curator", "researcher")
DENIED = ("annotator", "outsider")


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    return settings.DOCKET_EXPORT_DIR


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def voted(project, votes: list[list[str]]):
    """One pairwise item per entry, judged by as many people as the entry has choices."""
    people = [AnnotatorFactory(type=Annotator.Type.HUMAN) for _ in range(max(map(len, votes)))]
    items = []
    for choices in votes:
        item = make_item(project, kind="pairwise")
        for person, choice in zip(people, choices, strict=False):
            Annotation.objects.create(item=item, annotator=person, kind="pairwise", choice=choice)
        items.append(item)
    return items


def urls(project, dataset, job) -> dict[str, str]:
    slug = project.slug
    return {
        "list": reverse("datasets:list", args=[slug]),
        "count": reverse("datasets:count", args=[slug]) + "?format=dpo",
        "job": reverse("datasets:job", args=[slug, job.uuid]),
        "detail": reverse("datasets:detail", args=[slug, dataset.uuid]),
        "archive": reverse("datasets:archive", args=[slug, dataset.uuid]),
        "file": reverse("datasets:file", args=[slug, dataset.uuid, "manifest.json"]),
    }


@pytest.mark.django_db
def test_every_page_is_for_readers_only(project, personas, export_dir):
    dataset = make_dataset(project)
    job = Job.objects.create(project=project, kind="export", status="queued")
    pages = urls(project, dataset, job)
    for role in READERS:
        client = browser(personas[role])
        for name, url in pages.items():
            assert client.get(url).status_code == 200, (role, name)
    for role in DENIED:
        client = browser(personas[role])
        for name, url in pages.items():
            assert client.get(url).status_code == 404, (role, name)
        assert client.post(pages["list"], {"format": "dpo"}).status_code == 404, role
    anonymous = browser()
    for name, url in pages.items():
        response = anonymous.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
    assert Job.objects.count() == 1  # nothing queued by the refused posts


@pytest.mark.django_db
def test_another_projects_dataset_and_job_are_404(project, personas, export_dir):
    other = ProjectFactory()
    dataset = make_dataset(other)
    job = Job.objects.create(project=other, kind="export", status="queued")
    client = browser(personas["researcher"])
    for name, url in urls(project, dataset, job).items():
        if name in ("detail", "archive", "file", "job"):
            assert client.get(url).status_code == 404, name
    audit_job = Job.objects.create(project=project, kind="audit", status="queued")
    assert client.get(reverse("datasets:job", args=[project.slug, audit_job.uuid])).status_code == 404


@pytest.mark.django_db
def test_the_form_has_every_export_option(project, personas, export_dir):
    body = browser(personas["researcher"]).get(reverse("datasets:list", args=[project.slug])).content.decode()
    for name, spec in EXPORT_OPTIONS.items():
        if name in ALIASES:  # an old name: the form shows the option it stands for
            assert f'name="{name}"' not in body and f'name="{ALIASES[name]}"' in body, name
            continue
        assert f'name="{name}"' in body, name
        assert spec.help.split("(")[0].strip()[:30].replace("'", "&#x27;") in body, name
    assert 'name="format"' in body and 'value="kto"' in body
    assert 'hx-get="' + reverse("datasets:count", args=[project.slug]) in body
    assert "delay:400ms" in body  # debounced


@pytest.mark.django_db
def test_the_live_count_is_what_the_export_then_writes(project, personas, export_dir):
    # agreement 1.0, 1.0, 2/3, 1/2 (a tie: no DPO row), and one item with a single vote
    voted(project, [["A", "A", "A"], ["B", "B"], ["A", "A", "B"], ["A", "B"], ["A"]])
    client = browser(personas["researcher"])
    options = {"format": "dpo", "min_judgments": "2", "min_agreement": "0.6", "exclude_excluded": "on"}
    count = client.get(reverse("datasets:count", args=[project.slug]), options, headers={"HX-Request": "true"})
    assert count.status_code == 200
    bare = client.get(reverse("datasets:count", args=[project.slug]))  # what a crawler fetches: the defaults
    assert bare.status_code == 200 and 'data-items="5"' in bare.content.decode()
    body = count.content.decode()
    assert 'data-rows="3"' in body and 'data-items="3"' in body and "of 5 items" in body
    preview = export_preview(project=project, fmt="dpo", options={"min_judgments": 2, "min_agreement": 0.6})
    assert (preview.items_in, preview.items_kept, preview.rows_total) == (5, 3, 3)
    assert "min_judgments" in body and "min_agreement" in body  # removals per filter

    response = client.post(reverse("datasets:list", args=[project.slug]), {**options, "name": "cut"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert response["Location"] == reverse("datasets:job", args=[project.slug, job.uuid])
    assert job.params["options"]["min_agreement"] == 0.6 and job.created_by == personas["researcher"]
    run_job(job.id)
    dataset = Dataset.objects.get(job=job)
    assert dataset.row_count == preview.rows_total == 3
    report = {f["name"]: f["removed"] for f in dataset.manifest["filter_report"]}
    assert report == {f["name"]: f["removed"] for f in preview.filter_report}
    # the list: per dataset its removals, size, sha256 and who made it
    listing = client.get(reverse("datasets:list", args=[project.slug])).content.decode()
    row = listing[listing.index(f'data-dataset="{dataset.uuid}"') :].split("</tr>")[0]
    assert report["min_judgments"] == 1 and report["min_agreement"] == 1
    for name, removed in report.items():
        assert (f"<code>{name}</code> {removed}" in row) == (removed > 0), name
    assert dataset.sha256[:12] in row and personas["researcher"].username in row
    size = sum(f["bytes"] for f in dataset.files)
    assert size > 0 and filesizeformat(size) in row
    # the same through the service the page calls, for another format
    kto = export_preview(project=project, fmt="kto", options={"min_judgments": 2})
    job2 = client.post(reverse("datasets:list", args=[project.slug]), {"format": "kto", "min_judgments": "2"})
    run_job(Job.objects.get(uuid=job2["Location"].rstrip("/").rsplit("/", 1)[1]).id)
    assert Dataset.objects.get(format="kto").row_count == kto.rows_total


@pytest.mark.django_db
def test_bad_options_are_field_errors_and_nothing_is_queued(project, personas, export_dir):
    client = browser(personas["curator"])
    count = client.get(reverse("datasets:count", args=[project.slug]), {"format": "dpo", "min_agreement": "2"})
    assert count.status_code == 422
    assert "min_agreement" in count.content.decode() and "must be in [0, 1]" in count.content.decode()
    both = {"format": "dpo", "ches_drop_above_quantile": "0.9", "ches_keep_lowest_fraction": "0.1"}
    response = client.post(reverse("datasets:list", args=[project.slug]), both)
    assert response.status_code == 422
    assert "ches_drop_above_quantile" in response.context["form"].errors
    response = client.post(reverse("datasets:list", args=[project.slug]), {"format": "dpo", "seed": "-1"})
    assert response.status_code == 422 and "seed" in response.context["form"].errors
    assert 'id="error-seed"' in response.content.decode()
    response = client.post(reverse("datasets:list", args=[project.slug]), {"format": "nope"})
    assert response.status_code == 422 and "format" in response.context["form"].errors
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_the_job_page_shows_progress_and_stops_polling_when_done(project, personas, export_dir):
    voted(project, [["A", "A"]])
    client = browser(personas["researcher"])
    client.post(reverse("datasets:list", args=[project.slug]), {"format": "dpo"})
    job = Job.objects.get()
    url = reverse("datasets:job", args=[project.slug, job.uuid])
    page = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in page and 'role="progressbar"' in page and 'data-status="queued"' in page
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 200
    run_job(job.id)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    dataset = Dataset.objects.get(job=job)
    assert reverse("datasets:detail", args=[project.slug, dataset.uuid]) in done.content.decode()


@pytest.mark.django_db
def test_the_dataset_page_lists_manifest_files_and_snippets(project, personas, export_dir):
    dataset = make_dataset(project)
    dataset.created_by = personas["owner"]
    dataset.save()
    body = browser(personas["researcher"]).get(reverse("datasets:detail", args=[project.slug, dataset.uuid]))
    text = body.content.decode()
    assert dataset.sha256 in text and personas["owner"].username in text
    for f in dataset.files:
        assert f["sha256"] in text
        assert f"http://testserver/api/v1/datasets/{dataset.uuid}/files/{f['name']}" in text or f["format"] != "parquet"
    snippets = body.context["snippets"]
    assert "load_dataset(" in snippets["load_dataset"] and '"Authorization": "Token "' in snippets["load_dataset"]
    assert f'client.dataset("{dataset.uuid}")' in snippets["client"]
    compile(snippets["load_dataset"], "load", "exec")
    compile(snippets["client"], "client", "exec")
    listing = browser(personas["researcher"]).get(reverse("datasets:list", args=[project.slug])).content.decode()
    assert reverse("datasets:detail", args=[project.slug, dataset.uuid]) in listing
    assert reverse("datasets:archive", args=[project.slug, dataset.uuid]) in listing


def _tar_members(content: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.mark.django_db
def test_the_whole_dataset_as_a_streamed_tar_with_etag(project, personas, export_dir):
    dataset = make_dataset(project)
    url = reverse("datasets:archive", args=[project.slug, dataset.uuid])
    client = browser(personas["researcher"])
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    content = b"".join(response.streaming_content)
    assert response["Content-Type"] == "application/x-tar"
    assert int(response["Content-Length"]) == len(content) and len(content) % 10240 == 0
    folder = f"{project.slug}-dpo-{str(dataset.uuid)[:8]}"
    assert f'filename="{folder}.tar"' in response["Content-Disposition"]
    members = _tar_members(content)
    names = [f["name"] for f in dataset.files] + ["README.md", "manifest.json"]
    assert sorted(members) == sorted(f"{folder}/{n}" for n in names)
    for name in names:
        assert members[f"{folder}/{name}"] == (export_dir / str(dataset.uuid) / name).read_bytes(), name
    etag = response["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    again = client.get(url)
    assert again["ETag"] == etag and b"".join(again.streaming_content) == content  # the same bytes every time

    api = APIClient()
    api.force_authenticate(personas["researcher"])
    through_api = api.get(f"/api/v1/datasets/{dataset.uuid}/archive/")
    assert through_api.status_code == 200 and b"".join(through_api.streaming_content) == content
    assert api.get(f"/api/v1/datasets/{dataset.uuid}/archive/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert api.get(f"/api/v1/datasets/{dataset.uuid}/").json()["archive"].endswith(f"/datasets/{dataset.uuid}/archive/")
    for role in DENIED:
        api.force_authenticate(personas[role])
        assert api.get(f"/api/v1/datasets/{dataset.uuid}/archive/").status_code == 404, role
    api.force_authenticate(None)
    assert api.get(f"/api/v1/datasets/{dataset.uuid}/archive/").status_code == 401

    file_url = reverse("datasets:file", args=[project.slug, dataset.uuid, dataset.files[0]["name"]])
    one = client.get(file_url)
    assert one["ETag"] == f'"{dataset.files[0]["sha256"]}"'
    assert client.get(file_url, headers={"If-None-Match": one["ETag"]}).status_code == 304
    assert client.get(reverse("datasets:file", args=[project.slug, dataset.uuid, "../secret"])).status_code == 404
    (export_dir / str(dataset.uuid) / "README.md").unlink()
    assert client.get(url).status_code == 404  # a file is missing: no half archive


@pytest.mark.django_db
def test_home_and_project_pages_link_the_datasets_page_for_readers(project, personas):
    url = reverse("datasets:list", args=[project.slug])
    for role in READERS:
        assert url in browser(personas[role]).get("/").content.decode(), role
        assert url in browser(personas[role]).get(f"/p/{project.slug}/").content.decode(), role
    assert url not in browser(personas["annotator"]).get("/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_load_dataset_snippet_runs_against_the_server(personas, project, export_dir, live_server, tmp_path):
    """The dataset page's ``datasets.load_dataset`` snippet, pasted as it is, loads the dataset over HTTP with the token."""
    from datetime import timedelta

    from accounts.services import token_create

    dataset = make_dataset(project)
    _row, token = token_create(user=personas["researcher"], name="snippet", ttl=timedelta(hours=1))
    host = live_server.url.split("//", 1)[1]
    page = browser(personas["researcher"]).get(
        reverse("datasets:detail", args=[project.slug, dataset.uuid]), HTTP_HOST=host
    )
    snippet = page.context["snippets"]["load_dataset"]
    assert live_server.url + f"/api/v1/datasets/{dataset.uuid}/files/" in snippet
    # A researcher's Python, not this process (which forces Hugging Face's offline mode): the server is local.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(DOCKET_TOKEN=token, HF_HOME=str(tmp_path / "hf"), HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"))
    check = "\nprint('ROWS', ds['train'].num_rows, sorted(ds['train'].column_names))\n"
    done = subprocess.run([sys.executable, "-c", snippet + check], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"ROWS {dataset.row_count} ['chosen', 'prompt', 'rejected']" in done.stdout and dataset.row_count == 2
    env["DOCKET_TOKEN"] = "wrong"
    refused = subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "train-00000-of-00001.parquet" in refused.stderr  # the server said 401
