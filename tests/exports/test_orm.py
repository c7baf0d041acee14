"""The ORM reader: a hand-built project read back as records, chunked, with audit results."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.exports import ItemRec, JudgmentRec
from curation.exports.orm import audit_findings, ches_scores, items_for_export
from curation.models import AnnotatorAudit, Audit, ItemAudit
from tests.factories import ProjectFactory, PromptFactory, make_item

from .db_builders import annotate, human, item_on, judge, small_project

pytestmark = pytest.mark.django_db


def ids(*rows) -> list[str]:
    return [str(r.uuid) for r in rows]


def by_id(records) -> dict[str, ItemRec]:
    return {r.id: r for r in records}


def test_reader_builds_the_expected_records(project):
    p = small_project(project)
    records = list(items_for_export(project=project))
    # Probes are left out; items come grouped by prompt (creation order here), then by id.
    assert [r.id for r in records] == ids(p["pw"], p["tie"], p["bad"], p["rk"], p["jd"], p["th"], p["resolved"])
    got = by_id(records)

    pw = got[str(p["pw"].uuid)]
    assert pw.kind == "pairwise"
    assert pw.prompt.id == str(p["pw"].prompt.uuid)
    assert pw.prompt.messages == tuple(p["pw"].prompt.messages)
    assert [(r.id, r.text) for r in pw.responses] == [(str(r.uuid), r.text) for r in p["pw"].ordered_responses()]
    assert [r.text for r in pw.responses] == ["good answer", "poor answer"]
    assert [(j.id, j.annotator_id, j.annotator_type, j.choice, j.strength, j.consistent) for j in pw.judgments] == [
        (str(p["a1"].uuid), str(p["h1"].uuid), "human", "A", 2, None),
        (str(p["a2"].uuid), str(p["h2"].uuid), "human", "A", 1, None),
        (str(p["a3"].uuid), str(p["h3"].uuid), "human", "B", None, None),
        (str(p["a4"].uuid), str(p["bot"].uuid), "model", "B", None, False),
    ]
    assert pw.judgments[0].created_at == p["a1"].created_at.isoformat()
    assert pw.excluded is False and pw.resolution is None and pw.agreement is None and pw.ln_ches is None
    # Items of one prompt share one prompt record.
    assert got[str(p["tie"].uuid)].prompt is pw.prompt
    assert [j.choice for j in got[str(p["tie"].uuid)].judgments] == ["tie", "tie"]
    assert [j.choice for j in got[str(p["bad"].uuid)].judgments] == ["both_bad"]

    rk = got[str(p["rk"].uuid)]
    assert [j.ranking for j in rk.judgments] == [((p["r0"],), (p["r1"], p["r2"])), ((p["r1"],), (p["r0"],), (p["r2"],))]
    assert all(j.choice == "" for j in rk.judgments)

    jd = got[str(p["jd"].uuid)].judgments[0]
    assert (jd.critique, jd.corrected_response, jd.rationale) == ("too short", "a longer draft", "why")

    th = got[str(p["th"].uuid)]
    assert th.excluded is True and th.resolution == {"choice": "down"}
    assert [j.choice for j in th.judgments] == ["up"]
    # A bare string resolution reads as a choice.
    assert got[str(p["resolved"].uuid)].resolution == {"choice": "B"}


def test_reader_records_feed_the_formats_as_the_curator_decided(project, tmp_path):
    from curation.exports import export_run

    small_project(project)
    result = export_run(
        items_for_export(project=project), fmt="dpo", out_dir=tmp_path / "o", options={"conversational": False}
    )
    rows = [json.loads(line) for line in (tmp_path / "o/data/train-00000-of-00001.jsonl").open()]
    pairs = {(r["chosen"], r["rejected"]) for r in rows}
    # pw: A A B (+ an inconsistent judge, not a vote) -> A; resolved: the curator's B beats the annotator's A;
    # the ranking's consensus (mean Borda) is first > second > third; the correction beats the draft.
    assert pairs == {
        ("good answer", "poor answer"),
        ("right", "left"),
        ("first", "second"),
        ("first", "third"),
        ("second", "third"),
        ("a longer draft", "a draft"),
    }
    assert result.manifest["items"]["read"] == 7
    report = {f["name"]: f["removed"] for f in result.manifest["filter_report"]}
    assert report["excluded"] == 1  # the excluded thumb item


def test_reader_without_full_skips_raw_only_fields(project):
    p = small_project(project)
    jd = by_id(items_for_export(project=project, full=False))[str(p["jd"].uuid)].judgments[0]
    assert jd.critique == "too short" and jd.corrected_response == "a longer draft"
    assert jd.rationale == "" and jd.created_at is None


def test_chunk_size_changes_nothing_and_queries_do_not_grow_with_items(project, monkeypatch):
    from curation.exports import orm

    small_project(project)
    for k in range(9):
        it = item_on(PromptFactory(project=project), "pairwise", [f"x{k}", f"y{k}"])
        annotate(it, human(f"extra-{k}"), "A")
    Audit.objects.create(project=project)
    whole = list(items_for_export(project=project, chunk_size=1000))
    with CaptureQueriesContext(connection) as ctx:
        chunked = list(items_for_export(project=project, chunk_size=2))
    assert chunked == whole and len(whole) == 16
    # The latest audit, one query per stream (items, prompts, responses, annotations, audit rows) read
    # through server-side cursors, and the annotators (counted, then read at once).
    assert len(ctx.captured_queries) == 8
    monkeypatch.setattr(orm, "ANNOTATORS_READ_AT_ONCE", 5)  # too many: one query per annotator
    with CaptureQueriesContext(connection) as ctx:
        assert list(items_for_export(project=project, chunk_size=2)) == whole
    assert len(ctx.captured_queries) == 7 + 13  # 3 humans, the judge and 9 extra annotators


def test_probe_items_and_other_projects_are_left_out(project):
    p = small_project(project)
    other = make_item(ProjectFactory(), "pairwise")
    got = {r.id for r in items_for_export(project=project)}
    assert str(p["pr"].uuid) not in got and str(other.uuid) not in got


def make_audit(project, **summary) -> Audit:
    return Audit.objects.create(project=project, summary=summary)


def test_audit_scores_and_findings_come_from_the_latest_audit(project):
    p = small_project(project)
    old = make_audit(project)
    ItemAudit.objects.create(audit=old, item=p["pw"], majority_share=0.1, ln_ches=9.0)
    AnnotatorAudit.objects.create(audit=old, annotator=p["h2"], outlier=True)
    new = make_audit(project)
    ItemAudit.objects.create(audit=new, item=p["pw"], majority_share=0.75, ches=1.5, ln_ches=0.25)
    ItemAudit.objects.create(audit=new, item=p["resolved"], majority_share=1.0, ches=3.0, ln_ches=0.5)
    AnnotatorAudit.objects.create(audit=new, annotator=p["h3"], outlier=True)
    AnnotatorAudit.objects.create(audit=new, annotator=p["h1"], outlier=False)
    p["bot"].flagged = True  # a curator's flag
    p["bot"].save()

    got = by_id(items_for_export(project=project))
    pw = got[str(p["pw"].uuid)]
    assert (pw.agreement, pw.ches, pw.ln_ches) == (0.75, 1.5, 0.25)
    assert got[str(p["tie"].uuid)].ln_ches is None
    assert sorted(ches_scores(audit=new, project=project)) == sorted(
        [(str(p["pw"].uuid), 0.25), (str(p["resolved"].uuid), 0.5)]
    )
    assert sorted(ches_scores(audit=new, project=project, measure="ches")) == sorted(
        [(str(p["pw"].uuid), 1.5), (str(p["resolved"].uuid), 3.0)]
    )
    findings = audit_findings(project=project)
    assert findings.audit_id == new.pk
    assert findings.flagged_annotators == {str(p["h3"].uuid), str(p["bot"].uuid)}
    assert findings.swap_inconsistent == set() and findings.intransitive == set()


def test_consistency_findings_by_annotation_by_annotator_and_from_probes(project):
    p = small_project(project)
    audit = make_audit(project)
    # swap: named by annotation uuid; transitivity: named by annotator uuid (dict form).
    ItemAudit.objects.create(
        audit=audit,
        item=p["pw"],
        flags=["swap_inconsistent", "transitivity"],
        details={"swap_inconsistent": [str(p["a2"].uuid)], "transitivity": [{"annotator": str(p["h3"].uuid)}]},
    )
    assert audit_findings(project=project).swap_inconsistent == {str(p["a2"].uuid)}
    assert audit_findings(project=project).intransitive == {str(p["a3"].uuid)}
    # A flag without ids: the probe shown to h1 on pw says B where h1 said A on pw itself.
    ItemAudit.objects.filter(audit=audit).update(flags=["swap_inconsistent"], details={})
    assert audit_findings(project=project).swap_inconsistent == {str(p["a1"].uuid)}
    # A consistent probe answer flags nothing.
    p["pr"].annotations.update(choice="A")
    assert audit_findings(project=project).swap_inconsistent == set()


def test_judge_versus_human_records(project):
    p = small_project(project)
    pw = by_id(items_for_export(project=project))[str(p["pw"].uuid)]
    types = {j.annotator_id: j.annotator_type for j in pw.judgments}
    assert types[str(p["bot"].uuid)] == "model"
    assert {t for a, t in types.items() if a != str(p["bot"].uuid)} == {"human"}
    assert isinstance(pw.judgments[0], JudgmentRec)
    assert judge("other").type == "model"


@pytest.mark.django_db(transaction=True)
def test_snapshot_reader_gives_the_same_records_from_one_snapshot():
    project = ProjectFactory()
    p = small_project(project)
    here = list(items_for_export(project=project, snapshot=False))
    assert list(items_for_export(project=project, snapshot=True)) == here
    # The default outside a transaction on PostgreSQL reads on its own connection, from one snapshot:
    # an annotation committed after the read began is not in it (the caller's reader sees it).
    stream = items_for_export(project=project)
    assert next(stream) == here[0]
    annotate(p["resolved"], human("late"), "B")
    assert [here[0], *stream] == here
    assert len(by_id(items_for_export(project=project, snapshot=False))[str(p["resolved"].uuid)].judgments) == 2

    # A reader closed early closes its connection.
    def backends() -> set[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            return {row[0] for row in cursor.fetchall()}

    before = backends()
    stream = items_for_export(project=project)
    next(stream)
    reader = backends() - before
    assert len(reader) == 1
    stream.close()
    deadline = time.monotonic() + 10  # the server process ends a moment after the client hangs up
    while reader & backends() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not reader & backends()


def test_rows_of_items_the_item_stream_lacks_are_skipped():
    from curation.exports.orm import _merge

    items = iter([(1, 10, "i10", "thumb", False, None), (2, 30, "i30", "thumb", False, None)])
    # JSON columns come as text, as psycopg returns them from the server-side cursor
    prompts = iter([(1, "p1", '[{"role": "user", "content": "q1"}]'), (2, "p2", '[{"role": "user", "content": "q2"}]')])
    # Item 20 (prompt 1) appeared between the queries: its response and annotation are skipped.
    responses = iter([(1, 10, "r10", "t10"), (1, 20, "r20", "t20"), (2, 30, "r30", "t30")])
    annotations = iter(
        [(1, 20, "a20", 7, "up", None, None, "", "", None), (2, 30, "a30", 7, "down", None, None, "", "", None)]
    )
    audits = iter([(1, 20, 0.5, None, None), (2, 30, 1.0, 2.0, 0.2)])
    recs = list(
        _merge(
            items, prompts, responses, annotations, audits,
            full=False, annotator=lambda pk: (f"u{pk}", "human"),
        )
    )  # fmt: skip
    assert [(r.id, [x.id for x in r.responses], [j.id for j in r.judgments], r.agreement) for r in recs] == [
        ("i10", ["r10"], [], None),
        ("i30", ["r30"], ["a30"], 1.0),
    ]
    assert recs[1].judgments[0].annotator_id == "u7" and recs[1].ln_ches == 0.2
