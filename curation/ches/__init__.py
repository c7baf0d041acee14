"""Hidden-state encodings of responses, and CHES of pairs from them.

``params`` (the encode job's parameters and their check), ``services``
(``encode_create``: the audit overview's **Encode responses** button and
``manage.py encode``), ``runner`` (the 'encode' job: which responses, which
model, what a run does), ``selectors`` (``encodings_for`` and ``pair_ches``,
read by the audit's CHES stage and the exports). The forward passes are
``curation.llm.encode``; the formula is ``curation.metrics.ches``.
"""
