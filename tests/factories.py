"""factory_boy factories for the domain. Personas (owner, curator, annotator,
researcher, outsider) are built from these in ``tests/conftest.py``."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from annotate import models

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.replace("-", " ").title())
    guidelines = "Prefer the response that is **helpful**, honest and harmless."
    overlap = 2


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = models.Role.ANNOTATOR


class PrincipleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Principle

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"principle {n}")
    description = "Be good."


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Prompt

    project = factory.SubFactory(ProjectFactory)
    messages = factory.Sequence(lambda n: [{"role": "user", "content": f"Question number {n}?"}])
    content_hash = factory.LazyAttribute(lambda p: models.content_hash(p.messages))


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Response

    prompt = factory.SubFactory(PromptFactory)
    text = factory.Sequence(lambda n: f"Answer number {n}.")
    content_hash = factory.LazyAttribute(lambda r: models.content_hash(r.text))


class AnnotatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Annotator

    type = models.Annotator.Type.HUMAN
    user = factory.SubFactory(UserFactory)
    name = factory.LazyAttribute(lambda a: a.user.username if a.user else "judge")


def make_item(project, kind="pairwise", n_responses=None, texts=None, **kwargs) -> models.Item:
    """An item of ``kind`` with fresh prompt and responses (texts optional)."""
    low, _high = models.KIND_RESPONSES[kind]
    n = n_responses or (len(texts) if texts else low)
    prompt = PromptFactory(project=project)
    texts = texts or [f"Response {i} to {prompt.messages[0]['content']}" for i in range(n)]
    responses = [ResponseFactory(prompt=prompt, text=t) for t in texts]
    item = models.Item.objects.create(
        project=project,
        kind=kind,
        prompt=prompt,
        content_hash=models.content_hash([kind, str(prompt.uuid), [str(r.uuid) for r in responses]]),
        **kwargs,
    )
    models.ItemResponse.objects.bulk_create(
        models.ItemResponse(item=item, response=r, position=i) for i, r in enumerate(responses)
    )
    return item


def make_verdict(*, annotation, principle, verdict, version=None) -> models.PrincipleVerdict:
    """A principle verdict written directly (as fixtures do), under ``version`` or the principle's current one."""
    from annotate.services.principles import principle_versions_current

    version_id = version.pk if version is not None else principle_versions_current([principle])[principle.pk]
    return models.PrincipleVerdict.objects.create(
        annotation=annotation, principle=principle, version_id=version_id, verdict=verdict
    )
