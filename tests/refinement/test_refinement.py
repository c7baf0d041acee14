"""The refinement loop (issue 19, point 3): rewrite a principle, ask again about
a sample of the items its old version was applied to (annotators through the
queue, a judge panel as a job), and compare old vs new on the same items
(docs/algorithms.md#paired-bootstrap)."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from annotate.models import Item, PrincipleVerdict, Rejudgment
from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
from annotate.services.assignment import annotator_for_user, assignment_next
from curation.audit.load import project_data_load
from curation.models import Job
from curation.projects.services import principle_add, principle_update
from curation.refinement.compare import rejudgment_compare
from curation.refinement.services import rejudgment_create
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.django_db


def split_world(project, owner, n_items=6):
    """A principle whose two external judges split on every other item (version 1), then rewritten."""
    harmless = principle_add(project=project, name="Harmless", description="No harm.", user=owner)
    items = [make_item(project, "pairwise") for _ in range(n_items)]
    first, second = (annotator_for_model(name=f"reader {n}", model_name="m") for n in (1, 2))
    for index, item in enumerate(items):
        annotation_record(item=item, annotator=first, data=AnnotationInput(choice="A", verdicts={harmless.pk: "A"}))
        verdict = "B" if index % 2 else "A"
        annotation_record(
            item=item, annotator=second, data=AnnotationInput(choice="A", verdicts={harmless.pk: verdict})
        )
    principle_update(
        principle=harmless,
        description="No harm to a person.",
        guidance=[{"kind": "excludes", "text": "Does not count when it only describes a risk."}],
        user=owner,
    )
    harmless.refresh_from_db()
    return harmless, items


def test_a_sample_goes_through_the_queue_and_is_compared(project, personas):
    owner = personas["owner"]
    project.overlap = 1
    project.save(update_fields=["overlap"])
    harmless, items = split_world(project, owner)
    Item.objects.filter(pk__in=[i.pk for i in items]).update(status="done")  # the campaign is over
    before = project_data_load(project=project)
    rejudgment = rejudgment_create(project=project, principle=harmless, user=owner, size=4, overlap=2)
    assert (rejudgment.old_version.number, rejudgment.new_version.number, rejudgment.size) == (1, 2, 4)
    copies = list(Item.objects.filter(rejudgment=rejudgment))
    assert len(copies) == 4 and {c.rejudge_of_id for c in copies} <= {i.pk for i in items}
    assert all(c.status == "open" and c.target_overlap == 2 and c.prompt_id == c.rejudge_of.prompt_id for c in copies)
    assert [c.response_uuids() for c in copies] == [c.rejudge_of.response_uuids() for c in copies]
    # Copies stay out of the audit (and so of every dashboard and export built on it).
    assert len(project_data_load(project=project).item_id) == len(before.item_id)
    # Two people answer every copy through the normal queue, under the new wording: they agree.
    for user in (UserFactory(), UserFactory()):
        annotator = annotator_for_user(user)
        for _ in copies:
            lease = assignment_next(project=project, annotator=annotator, kind="pairwise")
            assert lease is not None and lease.item.rejudgment_id == rejudgment.pk
            annotation_record(
                assignment=lease,
                annotator=annotator,
                data=AnnotationInput(choice="A", verdicts={harmless.pk: "A" if lease.item.pk % 2 else "B"}),
                idempotency_key=uuid.uuid4(),
            )
    new = PrincipleVerdict.objects.filter(annotation__item__rejudgment=rejudgment)
    assert new.count() == 8 and set(new.values_list("version__number", flat=True)) == {2}
    result = rejudgment_compare(rejudgment=rejudgment, n_boot=200)
    everyone = result["groups"]["all"]
    assert (everyone["n_items"], everyone["old_verdicts"], everyone["new_verdicts"]) == (4, 8, 8)
    assert everyone["new"]["estimate"] == pytest.approx(1.0)  # no split under the new version
    assert everyone["split_new"] == 0.0
    assert everyone["split_old"] == pytest.approx(sum(1 for c in copies if items.index(c.rejudge_of) % 2) / 4)
    assert result["groups"]["human"]["n_items"] == 0  # the old verdicts were the judges'
    rejudgment.refresh_from_db()
    assert rejudgment.result == result and rejudgment.compared_at

    # The refine page plots α per version with its interval, old beside new, for the groups compared.
    client = Client()
    client.force_login(owner)
    page = client.get(reverse("refinement:refine", kwargs={"slug": project.slug, "principle_id": harmless.pk}))
    html = page.content.decode()
    assert f'id="rejudgment-plot-{rejudgment.uuid}"' in html
    plot = html.split(f'id="rejudgment-plot-{rejudgment.uuid}"')[1].split("</figure>")[0]
    assert "Everyone v1" in plot and "Everyone v2" in plot and "Humans v1" not in plot  # no human shared items
    assert "Everyone v2: 1" in plot  # the tooltip: new version's α is 1 on the shared items


def test_bad_requests_name_the_field_and_write_nothing(project, personas):
    owner = personas["owner"]
    harmless, _ = split_world(project, owner)
    fresh = principle_add(project=project, name="Fresh", user=owner)
    cases = [
        ({"principle": harmless, "size": 0, "overlap": 2}, "size"),
        ({"principle": harmless, "size": "many", "overlap": 2}, "size"),
        ({"principle": harmless, "overlap": 11}, "overlap"),
        ({"principle": harmless, "overlap": 1}, "overlap"),  # under the project's overlap (2): would not hold
        ({"principle": harmless}, "overlap"),  # neither annotators nor judges
        ({"principle": harmless, "panel": "default,bogus"}, "panel"),
        ({"principle": harmless, "panel": "project"}, "panel"),  # none saved
        ({"principle": harmless, "overlap": 2, "old_version": 2}, "old_version"),
        ({"principle": fresh, "overlap": 2}, "principle"),  # only one version
    ]
    for params, field in cases:
        with pytest.raises(ValidationError) as raised:
            rejudgment_create(project=project, user=owner, **params)
        assert field in raised.value.message_dict, (params, raised.value.message_dict)
    assert not Rejudgment.objects.exists() and not Item.objects.filter(rejudge_of__isnull=False).exists()
    assert not Job.objects.exists()


def test_a_panel_request_queues_one_judge_job_over_the_copies(project, personas):
    harmless, _ = split_world(project, personas["owner"])
    rejudgment = rejudgment_create(
        project=project, principle=harmless, user=personas["curator"], panel="default,strict", enqueue=False
    )
    job = Job.objects.get(uuid=rejudgment.job_uuid)
    assert job.kind == "judge" and job.params["rejudgment"] == str(rejudgment.uuid)
    assert job.params["panel"] == ["default", "strict"] and job.params["principles"] is True
    copies = Item.objects.filter(rejudgment=rejudgment)
    assert copies.count() == 6 and set(copies.values_list("status", flat=True)) == {"done"}  # not for people


def test_refine_page_per_role(project, personas):
    harmless, _ = split_world(project, personas["owner"])
    url = reverse("refinement:refine", kwargs={"slug": project.slug, "principle_id": harmless.pk})
    for who, status in {"owner": 200, "curator": 200, "annotator": 404, "researcher": 404, "outsider": 404}.items():
        client = Client()
        client.force_login(personas[who])
        assert client.get(url).status_code == status, who
        posted = client.post(url, {"action": "rejudge", "size": "3", "overlap": "2"})
        assert posted.status_code == {"owner": 302, "curator": 302}.get(who, 404), who
    assert Rejudgment.objects.count() == 2  # the owner's and the curator's
    assert Client().get(url).status_code == 302  # anonymous: to the login page
    curator = Client()
    curator.force_login(personas["curator"])
    assert curator.post(url, {"action": "rewrite", "name": "Sneaky"}).status_code == 403  # owners change principles
    owner = Client()
    owner.force_login(personas["owner"])
    assert owner.post(url, {"action": "rejudge", "size": "0", "overlap": "1"}).status_code == 400
    assert owner.post(url, {"action": "compare", "rejudgment": str(uuid.uuid4())}).status_code == 400
    other = principle_add(project=project, name="Other", user=personas["owner"])
    elsewhere = reverse("refinement:refine", kwargs={"slug": project.slug, "principle_id": other.pk + 1000})
    assert owner.get(elsewhere).status_code == 404
    html = owner.get(reverse("audit:ambiguity", kwargs={"slug": project.slug})).content.decode()
    assert url in html and 'id="refinement"' in html


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.timeout(900)
@pytest.mark.django_db(transaction=True)
def test_the_loop_end_to_end_with_a_real_worker_and_the_default_model_as_a_panel(live_worker):
    """The default model with two prompt variants is the panel: it judges the items under
    version 1, the owner rewrites the principle with guidance, a re-judgment sample goes to
    the same panel as a judge job on a real worker, and the comparison is stored when it ends."""
    from curation.jobs.services import job_create
    from tests.factories import ProjectFactory

    project = ProjectFactory()
    owner = UserFactory()
    honest = principle_add(project=project, name="honest", description="States only what is true.", user=owner)
    pairs = [
        ("What is the capital of France?", "The capital of France is Paris.", "The capital of France is Rome."),
        ("How many legs does a spider have?", "A spider has eight legs.", "A spider has six legs."),
        ("What colour is the sky on a clear day?", "Blue.", "Green, always."),
    ]
    for question, right, wrong in pairs:
        item = make_item(project, "pairwise", texts=[right, wrong])
        item.prompt.messages = [{"role": "user", "content": question}]
        item.prompt.save()

    def ended(job):
        def check():
            job.refresh_from_db()
            return job.status in Job.ENDED

        return check

    first = job_create(
        project=project, kind="judge", params={"panel": "default,strict", "principles": True}, user=owner
    )  # autocommit: enqueued at once
    live_worker.wait_for(ended(first), timeout=400, what="the panel's first judge job")
    assert first.status == "succeeded", first.error
    assert PrincipleVerdict.objects.filter(version__number=1).count() == 6
    guidance = [{"kind": "excludes", "text": "Does not count when both answers are true."}]
    principle_update(principle=honest, description="States only facts that are true.", guidance=guidance, user=owner)
    honest.refresh_from_db()
    rejudgment = rejudgment_create(project=project, principle=honest, user=owner, size=50, panel="default,strict")
    assert Item.objects.filter(rejudgment=rejudgment).count() == 3  # fewer qualify than asked: all of them
    job = Job.objects.get(uuid=rejudgment.job_uuid)
    live_worker.wait_for(ended(job), timeout=400, what="the re-judgment's judge job")
    assert job.status == "succeeded", job.error
    assert [(m["variant"], m["judged"]) for m in job.result["panel"]] == [("default", 3), ("strict", 3)]
    new = PrincipleVerdict.objects.filter(annotation__item__rejudgment=rejudgment)
    assert new.count() == 6 and set(new.values_list("version__number", flat=True)) == {2}
    for annotation in {v.annotation for v in new.select_related("annotation")}:
        assert annotation.probabilities["principles"]["honest"]["raw"]  # the real model's numbers
    rejudgment.refresh_from_db()
    judges = rejudgment.result["groups"]["judge"]
    assert (judges["n_items"], judges["old_verdicts"], judges["new_verdicts"]) == (3, 6, 6)
    assert rejudgment.result["groups"]["all"]["n_items"] == 3 and rejudgment.result["groups"]["human"]["n_items"] == 0
    for version in ("split_old", "split_new"):
        assert judges[version] is not None and 0 <= judges[version] <= 1
    assert isinstance(judges["beyond_noise"], bool)


def test_the_command_requests_a_sample_and_compares(project, personas, capsys):
    from django.core.management import CommandError, call_command

    harmless, items = split_world(project, personas["owner"])
    call_command("rejudge", project.slug, "Harmless", "--size", "3", "--overlap", "2")
    rejudgment = Rejudgment.objects.get()
    assert rejudgment.copies.count() == 3 and rejudgment.overlap == 2
    assert "3 item(s) asked again" in capsys.readouterr().out
    call_command("rejudge", project.slug, str(harmless.pk), "--compare")
    assert "no item has two or more verdicts under both versions" in capsys.readouterr().out
    rejudgment.refresh_from_db()
    assert rejudgment.compared_at is not None
    with pytest.raises(CommandError, match="size"):
        call_command("rejudge", project.slug, "Harmless", "--size", "0", "--overlap", "2")
    with pytest.raises(CommandError, match="principle"):
        call_command("rejudge", project.slug, "Kind", "--overlap", "2")
    assert Rejudgment.objects.count() == 1
