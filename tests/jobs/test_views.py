"""Job pages: access, the polling partial (286 once ended), cancel, launch forms."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from curation.jobs import lifecycle as jobs
from curation.jobs import services as job_services
from curation.jobs.lifecycle import job_start
from curation.jobs.selectors import jobs_recent
from curation.jobs.services import job_create
from curation.models import Job

pytestmark = pytest.mark.usefixtures("no_heartbeat_thread")


@pytest.fixture
def no_enqueue(monkeypatch):
    sent = []
    monkeypatch.setattr(job_services, "job_enqueue", lambda *, job: sent.append(job.pk))
    return sent


def login(client, user):
    client.force_login(user)
    return client


def detail_url(job):
    return reverse("jobs:detail", args=[job.project.slug, job.uuid])


@pytest.mark.parametrize("who", ["owner", "curator"])
def test_curators_see_the_job_page(client, project, personas, who):
    job = job_create(project=project, kind="generate", params={"per_prompt": 2}, enqueue=False)
    response = login(client, personas[who]).get(detail_url(job))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert 'role="progressbar"' in html
    assert "Cancel" in html
    policy = dict(d.strip().split(" ", 1) for d in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"


@pytest.mark.parametrize("who", ["annotator", "researcher", "outsider"])
def test_others_get_404_everywhere(client, project, personas, who, no_enqueue):
    job = job_create(project=project, kind="generate", enqueue=False)
    c = login(client, personas[who])
    slug = project.slug
    assert c.get(detail_url(job)).status_code == 404
    assert c.get(detail_url(job), HTTP_HX_REQUEST="true").status_code == 404
    assert c.post(reverse("jobs:cancel", args=[slug, job.uuid])).status_code == 404
    assert c.get(reverse("jobs:list", args=[slug])).status_code == 404
    assert c.get(reverse("jobs:generate", args=[slug])).status_code == 404
    assert c.post(reverse("jobs:generate", args=[slug]), {"per_prompt": 2}).status_code == 404
    assert c.get(reverse("jobs:judge", args=[slug])).status_code == 404
    assert c.post(reverse("jobs:judge", args=[slug]), {"kinds": ["pairwise"]}).status_code == 404
    assert Job.objects.get(pk=job.pk).cancel_requested is False
    assert Job.objects.count() == 1
    assert no_enqueue == []


def test_anonymous_is_sent_to_login(client, project):
    job = job_create(project=project, kind="generate", enqueue=False)
    response = client.get(detail_url(job))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_job_of_another_project_is_404(client, project, personas):
    from tests.factories import ProjectFactory

    other = ProjectFactory()
    job = job_create(project=other, kind="generate", enqueue=False)
    url = reverse("jobs:detail", args=[project.slug, job.uuid])
    assert login(client, personas["curator"]).get(url).status_code == 404


def test_polling_partial_is_200_while_running_and_286_when_ended(client, project, personas):
    job = job_create(project=project, kind="audit", enqueue=False)
    job, token = job_start(job_id=job.pk)
    jobs.job_progress(job=job, token=token, total=8, done=3, message="batch 3 of 8")
    c = login(client, personas["curator"])
    running = c.get(detail_url(job), HTTP_HX_REQUEST="true")
    assert running.status_code == 200
    html = running.content.decode()
    assert "<html" not in html  # only the partial
    assert 'aria-valuenow="3"' in html and 'aria-valuemax="8"' in html
    assert re.search(r'class="fill"[^>]*width="37"', html)
    assert "batch 3 of 8" in html

    jobs.job_finish(job=job, token=token, result={"rows": 8})
    ended = c.get(detail_url(job), HTTP_HX_REQUEST="true")
    assert ended.status_code == 286
    html = ended.content.decode()
    assert 'data-status="succeeded"' in html
    assert 'aria-valuenow="8"' in html
    assert "Cancel" not in html
    # The full page of an ended job does not poll at all.
    page = c.get(detail_url(job)).content.decode()
    assert "hx-trigger" not in page


def test_failed_job_shows_its_error_escaped(client, project, personas):
    job = job_create(project=project, kind="audit", enqueue=False)
    job, token = job_start(job_id=job.pk)
    jobs.job_fail(job=job, token=token, error="Traceback ...\nValueError: bad <script>alert(1)</script>")
    html = login(client, personas["curator"]).get(detail_url(job)).content.decode()
    assert 'role="alert"' in html
    assert "ValueError: bad &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_cancel_button_cancels_a_queued_job(client, project, personas):
    job = job_create(project=project, kind="generate", enqueue=False)
    c = login(client, personas["curator"])
    response = c.post(reverse("jobs:cancel", args=[project.slug, job.uuid]))
    assert response.status_code == 302
    assert response["Location"] == detail_url(job)
    assert Job.objects.get(pk=job.pk).status == "cancelled"


def test_cancel_of_a_running_job_via_htmx_returns_the_partial(client, project, personas):
    job = job_create(project=project, kind="generate", enqueue=False)
    job_start(job_id=job.pk)
    c = login(client, personas["owner"])
    response = c.post(reverse("jobs:cancel", args=[project.slug, job.uuid]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # still running until its next batch
    assert "cancel requested" in response.content.decode()
    assert Job.objects.get(pk=job.pk).cancel_requested


def test_cancel_needs_post(client, project, personas):
    job = job_create(project=project, kind="generate", enqueue=False)
    assert (
        login(client, personas["curator"]).get(reverse("jobs:cancel", args=[project.slug, job.uuid])).status_code == 405
    )


def test_job_list_shows_recent_jobs(client, project, personas):
    a = job_create(project=project, kind="generate", enqueue=False)
    b = job_create(project=project, kind="judge", enqueue=False)
    html = login(client, personas["curator"]).get(reverse("jobs:list", args=[project.slug])).content.decode()
    assert html.index(str(b.uuid)) < html.index(str(a.uuid))  # newest first
    assert "Generate candidates" in html and "Algorithmic judge" in html


def test_generate_form_creates_a_job_and_redirects(
    client, project, personas, no_enqueue, django_capture_on_commit_callbacks
):
    c = login(client, personas["curator"])
    form = c.get(reverse("jobs:generate", args=[project.slug]))
    assert form.status_code == 200
    assert 'name="per_prompt"' in form.content.decode()
    data = {
        "limit": 5,
        "per_prompt": 3,
        "max_new_tokens": 32,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 7,
        "kinds": ["pairwise", "ranking"],
        "pair_rule": "adjacent",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(reverse("jobs:generate", args=[project.slug]), data)
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(job)
    assert job.kind == "generate" and job.status == "queued"
    assert job.created_by == personas["curator"]
    assert job.params == {
        "limit": 5,
        "per_prompt": 3,
        "max_new_tokens": 32,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 7,
        "kinds": ["pairwise", "ranking"],
        "pair_rule": "adjacent",
    }
    assert no_enqueue == [job.pk]


def test_generate_form_rejects_bad_values_naming_the_field(client, project, personas, no_enqueue):
    c = login(client, personas["curator"])
    response = c.post(
        reverse("jobs:generate", args=[project.slug]),
        {"per_prompt": 0, "max_new_tokens": 32, "temperature": 0.7, "top_p": 0.9, "seed": 0, "kinds": ["pairwise"],
         "pair_rule": "adjacent"},
    )  # fmt: skip
    assert response.status_code == 422
    html = response.content.decode()
    assert "errorlist" in html and "per_prompt" in html
    assert Job.objects.count() == 0


def test_judge_form_creates_a_job(client, project, personas, no_enqueue):
    c = login(client, personas["owner"])
    assert c.get(reverse("jobs:judge", args=[project.slug])).status_code == 200
    response = c.post(
        reverse("jobs:judge", args=[project.slug]), {"limit": 3, "kinds": ["pairwise"], "principles": "on"}
    )
    job = Job.objects.get()
    assert response.status_code == 302
    assert job.kind == "judge"
    assert job.params == {"limit": 3, "kinds": ["pairwise"], "principles": True, "questions": False}


def test_recent_partial_renders_for_the_overview(rf, project, personas):
    from django.template.loader import render_to_string

    job = job_create(project=project, kind="generate", enqueue=False)
    html = render_to_string("curation/jobs/_recent.html", {"jobs": jobs_recent(project=project), "project": project})
    assert detail_url(job) in html
    assert 'role="progressbar"' in html
