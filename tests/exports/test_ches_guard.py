"""The CHES filter's length guard (``ches_min_chosen_tokens``, docs/algorithms.md#ches-length-guard):
pairs whose chosen reply is too short to say anything are removed and left out of the fraction."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from curation.exports.filters import Ches, FilterSpec
from curation.exports.options import EXPORT_OPTIONS, export_options_clean
from curation.exports.records import ExportInputError
from curation.exports.services import export_create
from curation.jobs.runner import run_job
from curation.models import Audit, ItemAudit, ResponseEncoding

from .db_builders import export_dir_fixture, small_project

export_dir = pytest.fixture(export_dir_fixture, name="export_dir")


class Rec:
    def __init__(self, id, ln_ches):
        self.id, self.kind, self.ln_ches = id, "pairwise", ln_ches


def test_worked_example():
    scores = [("a", -9.0, 2), ("b", -1.0, 30), ("c", 0.5, 40), ("d", 2.0, 12)]
    guarded = Ches.from_scores(scores, keep_lowest_fraction=0.5, min_chosen_tokens=8)
    kept = [r for r, v, _n in scores if guarded.keep(Rec(r, v))]
    assert kept == ["b", "c"]
    assert "fewer than 8 tokens (1)" in guarded.reason
    plain = Ches.from_scores(scores, keep_lowest_fraction=0.5)
    assert [r for r, v, _n in scores if plain.keep(Rec(r, v))] == ["a", "b"]
    # two-element scores (no token counts) and unknown counts pass the guard
    loose = Ches.from_scores([("a", -9.0), ("b", -1.0, None)], keep_lowest_fraction=1.0, min_chosen_tokens=8)
    assert loose.keep(Rec("a", -9.0)) and loose.keep(Rec("b", -1.0))


def test_option_is_declared_once_and_checked():
    assert EXPORT_OPTIONS["ches_min_chosen_tokens"].kind == "int"
    assert export_options_clean(fmt="dpo", options={"ches_min_chosen_tokens": "8"})["ches_min_chosen_tokens"] == 8
    assert export_options_clean(fmt="dpo", options={})["ches_min_chosen_tokens"] == 0
    with pytest.raises(ValidationError) as info:
        export_options_clean(fmt="dpo", options={"ches_min_chosen_tokens": -1})
    assert set(info.value.message_dict) == {"ches_min_chosen_tokens"}
    with pytest.raises(ExportInputError, match="ches_min_chosen_tokens"):
        FilterSpec(ches_min_chosen_tokens=True)


@pytest.mark.django_db
def test_export_drops_short_chosen_pairs_from_the_lowest_fraction(project, export_dir):
    p = small_project(project)
    audit = Audit.objects.create(project=project)
    model = "m@0123456789abcdef"
    pairs = {"pw": (-5.0, 2), "resolved": (0.3, 20)}  # pw: the lowest ln-CHES, a 2-token chosen reply
    for name, (ln, tokens) in pairs.items():
        item = p[name]
        chosen = item.ordered_responses()[0 if name == "pw" else 1]
        ItemAudit.objects.create(audit=audit, item=item, ln_ches=ln, chosen=chosen, ches_model=model)
        ResponseEncoding.objects.create(
            response=chosen, model_name=model, dim=1, n_tokens=tokens, vector=np.float32([1]).tobytes()
        )

    def report(**options):
        job = run_job(
            export_create(project=project, user=None, params={"format": "dpo", "options": options}, enqueue=False).pk
        )
        assert job.status == "succeeded", job.error
        return {f["name"]: f for f in job.dataset.manifest["filter_report"]}["ches"]

    plain = report(ches_keep_lowest_fraction=0.5)
    guarded = report(ches_keep_lowest_fraction=0.5, ches_min_chosen_tokens=8)
    assert plain["removed"] == 1 and "fewer than" not in plain["reason"]
    # the guard removes pw (2 tokens); the fraction then applies to resolved alone and keeps it
    assert guarded["removed"] == 1 and "fewer than 8 tokens (1)" in guarded["reason"]
