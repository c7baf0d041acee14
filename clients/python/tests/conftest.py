"""The client's tests run against the real app: pytest-django's ``live_server``
(Docket's WSGI app on a local port, on the test database) and, for exports and
audits, a real Celery worker (``tests.worker.live_worker``) on the real Redis."""

from __future__ import annotations

import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402

from annotate.models import Annotation, Annotator, Membership, Role  # noqa: E402
from tests.conftest import _fast_hashing_and_clean_cache  # noqa: E402, F401  (autouse here too)
from tests.factories import AnnotatorFactory, ProjectFactory, UserFactory, make_item  # noqa: E402
from tests.worker import live_worker  # noqa: E402, F401


@pytest.fixture
def lab(live_server, settings, tmp_path):
    """Project "lab": four pairwise items each preferred 'A' by two people (so four DPO rows),
    one pairwise item nobody judged yet; a researcher, a curator and an outsider."""
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    project = ProjectFactory(slug="lab", name="Lab")
    people = {role: UserFactory(username=f"{role}-lab") for role in ("researcher", "curator", "annotator")}
    for role, user in people.items():
        Membership.objects.create(project=project, user=user, role=role)
    people["outsider"] = UserFactory(username="outsider-lab")
    voters = [AnnotatorFactory(type=Annotator.Type.HUMAN) for _ in range(2)]
    voted = []
    for index in range(4):
        item = make_item(project, kind="pairwise", texts=[f"Good answer {index}.", f"Poor answer {index}."])
        for voter in voters:
            Annotation.objects.create(item=item, annotator=voter, kind="pairwise", choice="A")
        voted.append(item)
    fresh = make_item(project, kind="pairwise", texts=["Left answer.", "Right answer."])
    return {"url": live_server.url, "project": project, "people": people, "voted": voted, "fresh": fresh,
            "roles": Role}  # fmt: skip
