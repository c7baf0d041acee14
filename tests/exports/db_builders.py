"""Hand-built projects in the database for the ORM reader, job and command tests."""

from __future__ import annotations

from annotate.models import Annotation, Annotator, Item, ItemResponse, Response, content_hash
from tests.factories import AnnotatorFactory, make_item


def export_dir_fixture(settings, tmp_path):
    """Exports go to a temporary folder; no heartbeat thread (the test's rows are not committed)."""
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    return settings.DOCKET_EXPORT_DIR


def human(name: str) -> Annotator:
    return AnnotatorFactory(user__username=name)


def judge(name: str = "judge") -> Annotator:
    return Annotator.objects.create(type=Annotator.Type.MODEL, name=name, model_name=f"model-{name}")


def annotate(item: Item, annotator: Annotator, choice: str = "", **kw) -> Annotation:
    return Annotation.objects.create(item=item, annotator=annotator, kind=item.kind, choice=choice, **kw)


def item_on(prompt, kind: str, texts: list[str], **kw) -> Item:
    """Another item on an existing prompt."""
    responses = [
        Response.objects.get_or_create(prompt=prompt, content_hash=content_hash(t), defaults={"text": t})[0]
        for t in texts
    ]
    item = Item.objects.create(
        project=prompt.project,
        kind=kind,
        prompt=prompt,
        content_hash=content_hash([kind, str(prompt.uuid), [str(r.uuid) for r in responses]]),
        **kw,
    )
    ItemResponse.objects.bulk_create(ItemResponse(item=item, response=r, position=i) for i, r in enumerate(responses))
    return item


def responses_of(item: Item) -> list[Response]:
    return item.ordered_responses()


def probe(item: Item, annotator: Annotator, *, swapped: bool = True) -> Item:
    """A hidden repeat of ``item`` for ``annotator`` (same responses, same canonical positions)."""
    rs = responses_of(item)
    copy = Item.objects.create(
        project=item.project,
        kind=item.kind,
        prompt=item.prompt,
        content_hash=content_hash(["probe", str(item.uuid), str(annotator.uuid)]),
        probe_of=item,
        probe_for=annotator,
        probe_swapped=swapped,
    )
    ItemResponse.objects.bulk_create(ItemResponse(item=copy, response=r, position=i) for i, r in enumerate(rs))
    return copy


def small_project(project) -> dict:
    """Every kind, ties, both-bad, a judge, rankings with ties, a correction, a
    resolution, an excluded item and a probe. Returns the rows by name."""
    h1, h2, h3 = human("ann-1"), human("ann-2"), human("ann-3")
    bot = judge()
    pw = make_item(project, "pairwise", texts=["good answer", "poor answer"])
    a1 = annotate(pw, h1, "A", strength=2)
    a2 = annotate(pw, h2, "A", strength=1)
    a3 = annotate(pw, h3, "B")
    a4 = annotate(pw, bot, "B", consistent=False)
    tie = item_on(pw.prompt, "pairwise", ["same one", "same two"])
    annotate(tie, h1, "tie")
    annotate(tie, h2, "tie")
    bad = item_on(pw.prompt, "pairwise", ["bad one", "bad two"])
    annotate(bad, h1, "both_bad")
    rk = make_item(project, "ranking", texts=["first", "second", "third"])
    r0, r1, r2 = (str(r.uuid) for r in responses_of(rk))
    annotate(rk, h1, ranking=[[r0], [r1, r2]])
    annotate(rk, h2, ranking=[[r1], [r0], [r2]])
    jd = make_item(project, "judgment", texts=["a draft"])
    annotate(jd, h1, critique="too short", corrected_response="a longer draft", rationale="why")
    th = make_item(project, "thumb", texts=["thumbs"], excluded=True, resolution={"choice": "down"})
    annotate(th, h2, "up")
    resolved = make_item(project, "pairwise", texts=["left", "right"], resolution="B")
    annotate(resolved, h1, "A")
    pr = probe(pw, h1)
    annotate(pr, h1, "B")
    return locals()
