"""Principle versions and interpretive guidance (issue 19, point 2): a change of
wording is a new version, every verdict keeps the version it was given under
(the annotate page, the API/judge writer, import's bulk writer), old versions
stay readable on the principles page, the annotate page shows the current
wording with its guidance, and the judge's prompt carries the guidance."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotate.models import Annotation, PrincipleVerdict, PrincipleVersion
from annotate.services.annotations import (
    AnnotationInput,
    Label,
    annotation_record,
    annotations_record_bulk,
    annotator_for_model,
)
from annotate.services.assignment import annotator_for_user, assignment_next
from curation.judging import runner as judging
from curation.projects.services import principle_add, principle_update
from tests.factories import PrincipleFactory, make_item

pytestmark = pytest.mark.django_db

GUIDANCE = [
    {"kind": "canon", "text": "Read harm as harm to a person, not to a system."},
    {"kind": "counts", "text": "Counts when the answer gives steps to hurt someone."},
    {"kind": "excludes", "text": "Does not count when it only describes a risk."},
]


def test_a_verdict_keeps_its_version_after_an_edit(project, personas):
    owner = personas["owner"]
    harmless = principle_add(project=project, name="Harmless", description="No harm.", user=owner)
    first = make_item(project, "pairwise")
    second = make_item(project, "pairwise")
    judge = annotator_for_model(name="external", model_name="m")
    before = annotation_record(
        item=first, annotator=judge, data=AnnotationInput(choice="A", verdicts={harmless.pk: "A"})
    )
    v1 = PrincipleVersion.objects.get(principle=harmless, number=1)
    assert PrincipleVerdict.objects.get(annotation=before.annotation).version == v1

    principle_update(principle=harmless, description="No harm to people.", guidance=GUIDANCE, user=owner)
    harmless.refresh_from_db()
    v2 = harmless.current_version
    assert (v2.number, v2.description, v2.guidance, v2.created_by) == (2, "No harm to people.", GUIDANCE, owner)
    v1.refresh_from_db()
    assert (v1.name, v1.description, v1.guidance) == ("Harmless", "No harm.", [])  # the old wording stays
    assert PrincipleVerdict.objects.get(annotation=before.annotation).version == v1  # kept

    after = annotation_record(
        item=second, annotator=judge, data=AnnotationInput(choice="B", verdicts={harmless.pk: "B"})
    )
    assert PrincipleVerdict.objects.get(annotation=after.annotation).version == v2

    # Saving the same wording again makes no version; a rename does.
    principle_update(principle=harmless, description="No harm to people.", guidance=GUIDANCE, user=owner)
    assert harmless.versions.count() == 2
    principle_update(principle=harmless, name="Safe", user=owner)
    assert [v.name for v in harmless.versions.order_by("number")] == ["Harmless", "Harmless", "Safe"]


def test_bulk_writer_stamps_the_current_version(project):
    """Import's labels go through ``annotations_record_bulk``: its verdicts get the current version."""
    principle = PrincipleFactory(project=project)  # written outside the services: no version yet
    assert principle.current_version_id is None
    items = [make_item(project, "pairwise") for _ in range(3)]
    imported = annotator_for_model(name="bulk", model_name="m")
    labels = [Label(item=i, data=AnnotationInput(choice="A", verdicts={principle.pk: "A"})) for i in items]
    annotations_record_bulk(annotator=imported, labels=labels)
    principle.refresh_from_db()
    assert principle.current_version.number == 1  # snapshotted on first use
    assert set(PrincipleVerdict.objects.values_list("version", flat=True)) == {principle.current_version_id}


def test_a_given_version_is_checked_against_the_principle(project, personas):
    owner = personas["owner"]
    honest = principle_add(project=project, name="Honest", user=owner)
    kind = principle_add(project=project, name="Kind", user=owner)
    old = honest.current_version_id
    principle_update(principle=honest, description="Say only what you know.", user=owner)
    judge = annotator_for_model(name="external", model_name="m")
    item = make_item(project, "pairwise")
    with pytest.raises(ValidationError) as wrong:
        annotation_record(
            item=item,
            annotator=judge,
            data=AnnotationInput(choice="A", verdicts={honest.pk: "A"}, versions={honest.pk: kind.current_version_id}),
        )
    assert "verdicts" in wrong.value.message_dict and not Annotation.objects.exists()
    recorded = annotation_record(
        item=item,
        annotator=judge,
        data=AnnotationInput(choice="A", verdicts={honest.pk: "A"}, versions={honest.pk: old}),
    )
    assert PrincipleVerdict.objects.get(annotation=recorded.annotation).version_id == old


def test_annotate_page_shows_current_wording_and_records_the_version_shown(client, project, personas):
    owner, person = personas["owner"], personas["annotator"]
    harmless = principle_add(project=project, name="Harmless", description="No harm.", guidance=GUIDANCE, user=owner)
    make_item(project, "pairwise")
    client.force_login(person)
    page = client.get(reverse("annotate-next", args=[project.slug]))
    html = page.content.decode()
    for entry in GUIDANCE:
        assert entry["text"] in html
    assert f'name="version_{harmless.pk}" value="{harmless.current_version_id}"' in html
    shown = harmless.current_version_id
    lease = re.search(r'id="item"[^>]*data-assignment="([0-9a-f-]+)"', html).group(1)
    key = re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', html).group(1)
    # The owner rewrites the principle while the annotator reads the old wording.
    principle_update(principle=harmless, description="No harm to any person.", user=owner)
    response = client.post(
        reverse("annotate-submit", args=[project.slug, lease]),
        {"idempotency_key": key, "choice": "left", f"verdict_{harmless.pk}": "left", f"version_{harmless.pk}": shown},
    )
    assert response.status_code == 303
    assert PrincipleVerdict.objects.get().version_id == shown  # the wording the page showed
    html = client.get(reverse("annotate-project", kwargs={"slug": project.slug})).content.decode()
    assert "No harm to any person." in html and GUIDANCE[0]["text"] in html  # the current wording


def test_lease_submit_without_a_shown_version_takes_the_current_one(project, personas):
    harmless = principle_add(project=project, name="Harmless", user=personas["owner"])
    principle_update(principle=harmless, description="Rewritten.", user=personas["owner"])
    make_item(project, "pairwise")
    annotator = annotator_for_user(personas["annotator"])
    lease = assignment_next(project=project, annotator=annotator, kind="pairwise")
    annotation_record(
        assignment=lease,
        annotator=annotator,
        data=AnnotationInput(choice="A", verdicts={harmless.pk: "B"}),
        idempotency_key=uuid.uuid4(),
    )
    assert PrincipleVerdict.objects.get().version.number == 2


def test_principles_page_edits_guidance_and_lists_versions(client, project, personas):
    owner = personas["owner"]
    harmless = principle_add(project=project, name="Harmless", description="No harm.", user=owner)
    client.force_login(owner)
    url = reverse("curation:principles", kwargs={"slug": project.slug})
    response = client.post(
        url,
        {
            "action": "edit",
            "principle": harmless.pk,
            "name": "Harmless",
            "description": "No harm to people.",
            "canon": GUIDANCE[0]["text"],
            "counts": GUIDANCE[1]["text"],
            "excludes": GUIDANCE[2]["text"] + "\n\n",
        },
    )
    assert response.status_code == 302
    harmless.refresh_from_db()
    assert harmless.guidance == GUIDANCE and harmless.current_version.number == 2
    html = client.get(url).content.decode()
    versions = html[html.index(f'id="versions-{harmless.pk}"') :]
    versions = versions[: versions.index("</details>")]
    assert 'data-version="2"' in versions and 'data-version="1"' in versions
    assert "No harm.</p>" in versions and "No harm to people." in versions and GUIDANCE[2]["text"] in versions
    # Curators read the versions too.
    client.force_login(personas["curator"])
    assert f'id="versions-{harmless.pk}"' in client.get(url).content.decode()


def test_bad_guidance_is_a_field_error_and_changes_nothing(client, project, personas):
    owner = personas["owner"]
    harmless = principle_add(project=project, name="Harmless", user=owner)
    cases = [
        "not a list",
        [{"kind": "rule", "text": "x"}],
        [{"kind": "canon", "text": "  "}],
        [{"kind": "canon", "text": "x" * 301}],
        [{"kind": "canon", "text": "x", "extra": 1}],
        [{"kind": "canon", "text": f"entry {n}"} for n in range(13)],
    ]
    for guidance in cases:
        with pytest.raises(ValidationError) as raised:
            principle_update(principle=harmless, guidance=guidance, user=owner)
        assert "guidance" in raised.value.message_dict
    assert harmless.versions.count() == 1
    client.force_login(owner)
    url = reverse("curation:principles", kwargs={"slug": project.slug})
    response = client.post(url, {"action": "edit", "principle": harmless.pk, "name": "Harmless", "canon": "x" * 301})
    assert response.status_code == 400 and "guidance" in response.context["errors"]
    assert harmless.versions.count() == 1


def test_judge_prompt_carries_the_guidance(project, personas, monkeypatch):
    """What the judge is asked: the prompts handed to the model hold the principle's
    name, description and every guidance entry (``_label_probs`` is where the model
    would be called; it records the prompts here and answers a fixed distribution)."""
    harmless = principle_add(
        project=project, name="Harmless", description="No harm.", guidance=GUIDANCE, user=personas["owner"]
    )
    text = judging.principle_prompt_text(harmless)
    assert text.startswith("Harmless: No harm.")
    for heading, entry in zip(judging.GUIDANCE_HEADINGS.values(), GUIDANCE, strict=True):
        assert f"{heading}:\n- {entry['text']}" in text
    asked = []

    def label_probs(loaded, prompts, labels, system):
        asked.extend(prompts)
        return [{label: 1 / len(labels) for label in labels} for _ in prompts]

    monkeypatch.setattr(judging, "_label_probs", label_probs)
    item = make_item(project, "pairwise")
    data = judging.judge_pairwise(loaded=None, item=item, principles=[harmless])
    principled = [p for p in asked if "Principle:" in p]
    assert principled and all(text in p for p in principled)
    assert data.versions == {harmless.pk: harmless.current_version_id}
