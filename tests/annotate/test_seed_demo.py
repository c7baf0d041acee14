"""``seed_demo``: the demo project, its items of every kind and the demo users, idempotent."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotate.models import (
    Annotation,
    Annotator,
    Item,
    ItemResponse,
    Kind,
    Membership,
    Principle,
    Project,
    Prompt,
    Response,
)
from annotate.services.assignment import annotator_for_user, assignment_next

TABLES = (Project, Principle, Membership, Prompt, Response, Item, ItemResponse, Annotation, Annotator)


@pytest.fixture(autouse=True)
def demo_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DEBUG = True  # pytest-django turns DEBUG off; the default demo password needs it on


def counts() -> dict[str, int]:
    result = {model.__name__: model.objects.count() for model in TABLES}
    result["User"] = get_user_model().objects.count()
    return result


def password_ok(username: str, password: str) -> bool:
    return get_user_model().objects.get(username=username).check_password(password)


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_creates_the_demo(monkeypatch):
    monkeypatch.delenv("DOCKET_DEMO_PASSWORD", raising=False)
    output = seed()

    project = Project.objects.get(slug="demo")
    assert project.name == "Docket demo" and project.overlap == 2
    assert project.guidelines.startswith("# How to judge")
    assert list(project.principles.values_list("name", flat=True)) == ["helpful", "honest", "harmless", "concise"]
    kinds = set(Item.objects.filter(project=project).values_list("kind", flat=True))
    assert kinds == set(Kind.values)
    for kind in Kind.values:
        assert Item.objects.filter(project=project, kind=kind).count() >= 2
    # A multi-turn conversation, a code block and a ranking of 3+ responses are among them.
    assert Item.objects.get(external_id="demo-pairwise-conversation").prompt.messages[-1]["role"] == "user"
    assert len(Item.objects.get(external_id="demo-pairwise-conversation").prompt.messages) == 4
    assert "```python" in Item.objects.get(external_id="demo-pairwise-code").ordered_responses()[0].text
    assert Item.objects.get(external_id="demo-ranking-haiku").links.count() == 4
    # The HH row came in with its imported label.
    assert Annotation.objects.get().annotator.name == "imported:demo"

    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {
        "owner": "owner",
        "curator": "curator",
        "annotator1": "annotator",
        "annotator2": "annotator",
        "researcher": "researcher",
    }
    for username in roles:
        assert password_ok(username, "docket-demo")
        assert f"{username}" in output
    assert "docket-demo" in output

    # The demo is usable: an annotator gets an item.
    annotator = annotator_for_user(get_user_model().objects.get(username="annotator1"))
    assert assignment_next(project=project, annotator=annotator) is not None


@pytest.mark.django_db
def test_seed_demo_twice_creates_nothing_new(monkeypatch):
    monkeypatch.delenv("DOCKET_DEMO_PASSWORD", raising=False)
    seed()
    before = counts()
    output = seed()
    assert counts() == before
    assert "already there" in output and "0 items created" in output


@pytest.mark.django_db
def test_seed_demo_password_from_environment(monkeypatch, settings):
    monkeypatch.setenv("DOCKET_DEMO_PASSWORD", "a-better-secret")
    output = seed()
    assert "a-better-secret" in output
    assert password_ok("curator", "a-better-secret")
    assert not password_ok("curator", "docket-demo")

    monkeypatch.delenv("DOCKET_DEMO_PASSWORD")
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DOCKET_DEMO_PASSWORD"):
        seed()


@pytest.mark.django_db
def test_seed_demo_migrates_first_when_asked(monkeypatch):
    """``make run``'s one process: migrate (here: nothing to apply, it still runs), then seed."""
    from unittest import mock

    monkeypatch.delenv("DOCKET_DEMO_PASSWORD", raising=False)
    out = io.StringIO()
    with mock.patch("annotate.management.commands.seed_demo.call_command", wraps=call_command) as calls:
        call_command("seed_demo", "--migrate", stdout=out)
    assert calls.call_args_list[0].args == ("migrate",)
    assert Project.objects.filter(slug="demo").exists() and "Demo logins" in out.getvalue()
