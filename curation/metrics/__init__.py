"""Pure-maths curation metrics (numpy/scipy only; no ORM, no Django settings).

Definitions, defaults and worked numbers: ``docs/algorithms.md``. Every function is tested
against a reference package (krippendorff, NLTK, crowd-kit, choix, scikit-learn, scipy) or a
hand-worked case in ``tests/metrics/``.

Public API
----------
``agreement`` (docs/algorithms.md#agreement) — raters × units matrices, NaN = missing
    krippendorff_alpha(data, level="nominal"|"ordinal"|"interval"|"ratio", value_domain=None) -> float
    krippendorff_alpha_from_counts(counts, value_domain=None, level=...) -> float
    value_counts(data, value_domain=None) -> (units × values counts, domain)
    unit_entropy(data) -> entropy per unit (bits); majority and its share: curation.consensus
    fleiss_kappa(counts, method="fleiss"|"randolph") -> float
    kendall_w(ranks, ties=True) -> float ; kendall_w_chi2(w, n_raters, n_objects) -> (χ², p)
    cohen_kappa(a, b, weights=None) -> float ; cohen_kappa_matrix(data) -> (κ per rater pair, overlap)
    krippendorff_alpha_bootstrap(data, level, n_boot=1000, seed=0) -> BootstrapResult (units resampled)
    annotator_vs_consensus(data, consensus) -> RaterAgreement(share, n)
    leave_one_out_z(values, min_peers=3, sd_floor=0.05) -> z per value against the others (the outlier rule)
``questions`` (docs/algorithms.md#question-agreement) — custom questions; label sets: raters × units, cells sets or None
    multilabel_alpha(data, distance="masi"|"jaccard") -> float ; multilabel_alpha_bootstrap(...) -> BootstrapResult
    masi_distance(a, b), jaccard_distance(a, b) -> float
    category_agreement(data, categories) -> [CategoryAgreement(category, rate, n_labelled, n_answers, alpha)]
    rater_distance_agreement(data, consensus, distance) -> RaterDistanceAgreement(agreement, n)
``ambiguity`` (docs/algorithms.md#principle-ambiguity) — one principle's verdict codes, raters × items
    principle_agreement(data, n_boot=1000, seed=0) -> PrincipleAgreement(alpha, interval, split_share, n_items, ...)
    versions_compare(old_counts, new_counts, n_boot=1000, seed=0) -> VersionComparison(old, new, difference, ...)
        items × values counts of two versions on the same items; paired bootstrap (#paired-bootstrap)
    verdicts_split(counts) -> bool per item (two or more different verdicts)
``aggregation`` (docs/algorithms.md#dawid-skene; the consensus rules themselves: curation.consensus)
    dawid_skene(tasks, workers, labels, n_classes, n_iter=100, tol=1e-5) -> DawidSkeneResult
``consistency`` (docs/algorithms.md#consistency) — signed labels: +1 = A, −1 = B, 0 = tie; a swap maps x -> −x
    retest_agreement(first, second, swapped=None) -> RetestResult(agreement, kappa, n, ...)
    swap_consistency(verdict_ab, verdict_ba) / judge_order_consistency -> SwapConsistency(rate, combined, ...)
    transitivity_violations(edges, ties=(), mode="weak_order"|"strict_cycles") -> (violations, triads)
    thumbs_contradictions(choices, thumbs) -> ThumbsCheck(contradictions, comparable, mask)
    cream_consistency(scores1, scores2) -> C = (τ_b + 1)/2
``ches`` (docs/algorithms.md#ches)
    ches(s_pos, s_neg), ln_ches(s_pos, n_pos, s_neg, n_neg) -> float
    ches_batch(S_pos[B,d], S_neg[B,d], n_pos[B], n_neg[B]) -> (ches[B], ln_ches[B])
    ches_select(scores, keep_fraction=... | drop_above_quantile=..., center_quantile=0) -> keep mask
``discretion`` (docs/algorithms.md#discretion) — P: items × principles in {+1, −1, NaN}; a: {+1, −1, 0, NaN}
    agreement_categories(P) -> AgreementCategories(category, consensus_sign)
    discretion_arbitrariness(P, a) -> float ; discretion_arbitrariness_bootstrap(P, a, n_boot, seed)
    principle_supremacy(P, a) -> (PS, N)
    principle_priority(PS, N) -> PrinciplePriority(elo with ±inf, rank, converged)
    discretion_discrepancy(rank_a, rank_b) -> (1 − τ_b)/2
``bootstrap``
    bootstrap(statistic(indices) -> float, n, n_boot=1000, seed=0, level=0.95) -> BootstrapResult
"""

from .aggregation import DawidSkeneResult, dawid_skene
from .agreement import (
    RaterAgreement,
    annotator_vs_consensus,
    cohen_kappa,
    cohen_kappa_matrix,
    fleiss_kappa,
    kendall_w,
    kendall_w_chi2,
    krippendorff_alpha,
    krippendorff_alpha_bootstrap,
    krippendorff_alpha_from_counts,
    leave_one_out_z,
    unit_entropy,
    value_counts,
)
from .ambiguity import PrincipleAgreement, VersionComparison, principle_agreement, verdicts_split, versions_compare
from .bootstrap import BootstrapResult, bootstrap
from .ches import ches, ches_batch, ches_select, ln_ches
from .consistency import (
    RetestResult,
    SwapConsistency,
    ThumbsCheck,
    cream_consistency,
    judge_order_consistency,
    retest_agreement,
    swap_consistency,
    thumbs_contradictions,
    transitivity_violations,
)
from .discretion import (
    AgreementCategories,
    PrinciplePriority,
    agreement_categories,
    discretion_arbitrariness,
    discretion_arbitrariness_bootstrap,
    discretion_discrepancy,
    principle_priority,
    principle_supremacy,
)
from .questions import (
    CategoryAgreement,
    RaterDistanceAgreement,
    category_agreement,
    jaccard_distance,
    masi_distance,
    multilabel_alpha,
    multilabel_alpha_bootstrap,
    rater_distance_agreement,
)

__all__ = [
    "AgreementCategories",
    "CategoryAgreement",
    "RaterDistanceAgreement",
    "category_agreement",
    "jaccard_distance",
    "masi_distance",
    "multilabel_alpha",
    "multilabel_alpha_bootstrap",
    "rater_distance_agreement",
    "BootstrapResult",
    "DawidSkeneResult",
    "PrincipleAgreement",
    "PrinciplePriority",
    "RaterAgreement",
    "RetestResult",
    "SwapConsistency",
    "ThumbsCheck",
    "agreement_categories",
    "annotator_vs_consensus",
    "bootstrap",
    "ches",
    "ches_batch",
    "ches_select",
    "cohen_kappa",
    "cohen_kappa_matrix",
    "cream_consistency",
    "dawid_skene",
    "discretion_arbitrariness",
    "discretion_arbitrariness_bootstrap",
    "discretion_discrepancy",
    "fleiss_kappa",
    "unit_entropy",
    "judge_order_consistency",
    "kendall_w",
    "kendall_w_chi2",
    "krippendorff_alpha",
    "krippendorff_alpha_bootstrap",
    "krippendorff_alpha_from_counts",
    "leave_one_out_z",
    "ln_ches",
    "principle_agreement",
    "versions_compare",
    "VersionComparison",
    "principle_priority",
    "principle_supremacy",
    "retest_agreement",
    "swap_consistency",
    "thumbs_contradictions",
    "transitivity_violations",
    "value_counts",
    "verdicts_split",
]
