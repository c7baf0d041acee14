"""Reads of stored response encodings: which responses CHES needs, and CHES of
pairs as dot products of the stored sums (docs/algorithms.md#ches). The audit's CHES
stage and the exports read through ``pair_ches``."""

from __future__ import annotations

import numpy as np
from django.db.models import Exists, OuterRef

from annotate.models import Kind, Project, Response
from curation.metrics.ches import ches_batch
from curation.models import ResponseEncoding

PAIR_KINDS = (Kind.PAIRWISE.value, Kind.RANKING.value)


def encoding_model_ref(*, project: Project) -> str:
    """The project's model as a resolved reference (a path): what the encode job loads."""
    from curation.llm.runtime import resolve_name

    return resolve_name(project.model_name or None)


def encoding_model_name(*, project: Project) -> str:
    """The key of the project's encodings: the model's identity, name + weights digest
    (``curation.llm.identity``), not its path, so a new checkout or virtualenv reuses them."""
    from curation.llm.identity import model_identity

    return model_identity(encoding_model_ref(project=project))


def responses_in_scope(*, project: Project):
    """The project's responses that are in a pairwise or ranking item."""
    return Response.objects.filter(items__project=project, items__kind__in=PAIR_KINDS).distinct()


def responses_unencoded(queryset, model_name: str):
    done = ResponseEncoding.objects.filter(response=OuterRef("pk"), model_name=model_name)
    return queryset.exclude(Exists(done))


def encodings_for(*, response_ids, model_name: str) -> dict[int, tuple[np.ndarray, int]]:
    """``{response_id: (summed hidden state as float64 [d], n_tokens)}`` for the stored encodings.

    Responses without an encoding for ``model_name`` are absent from the dict.
    """
    rows = ResponseEncoding.objects.filter(response_id__in=list(set(response_ids)), model_name=model_name)
    return {
        rid: (np.frombuffer(bytes(vector), dtype="<f4").astype(np.float64), n)
        for rid, vector, n in rows.values_list("response_id", "vector", "n_tokens")
    }


def pair_ches(*, pairs: list[tuple[int, int]], model_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ches [N], ln_ches [N])`` float64 for ``(chosen_id, rejected_id)`` pairs of response ids.

    NaN where either response has no encoding for ``model_name``. CHES is
    asymmetric: the first id is the preferred (chosen) response.
    """
    n = len(pairs)
    out_ches = np.full(n, np.nan)
    out_ln = np.full(n, np.nan)
    if not n:
        return out_ches, out_ln
    enc = encodings_for(response_ids=[r for pair in pairs for r in pair], model_name=model_name)
    rows = [i for i, (c, r) in enumerate(pairs) if c in enc and r in enc]
    if rows:
        s_pos = np.stack([enc[pairs[i][0]][0] for i in rows])
        s_neg = np.stack([enc[pairs[i][1]][0] for i in rows])
        n_pos = np.array([enc[pairs[i][0]][1] for i in rows])
        n_neg = np.array([enc[pairs[i][1]][1] for i in rows])
        values, normalised = ches_batch(s_pos, s_neg, n_pos, n_neg)
        out_ches[rows] = values
        out_ln[rows] = normalised
    return out_ches, out_ln
