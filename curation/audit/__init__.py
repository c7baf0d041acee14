"""The project audit and its dashboards.

The 'audit' job: ``params`` and ``services`` (``audit_create``), ``runner``,
and the computation as a pipeline (``pipeline``: what counts, and the order
of the stages) of one module per metric family, each with explicit inputs
and a typed result: ``load`` (the project as arrays), ``counts``,
``agreement`` (α, majority consensus, Dawid–Skene, disagreement),
``rankings`` (α, Kendall's W, Bradley–Terry), ``annotators`` (vs the
consensus, the outlier rule), ``consistency`` (probes, transitivity,
thumbs), ``discretion``, ``ches``; ``rows`` (the per-item and per-annotator
rows the stages fill), ``store`` (one transaction), ``batched`` (the per-item
maths over all items at once), ``common``. ``summary`` lays out what is
stored (TypedDicts).

The dashboards: ``selectors`` (reads of stored audits), ``presenters``
(summary → tables and SVG plots), ``forms``, ``views``, ``urls``.
"""
