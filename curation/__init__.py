"""The auditing side of Docket, one package per feature.

Each feature package holds what a reader looks for about it: ``params``
(its job's parameters and their check), ``services`` (writes, including the
one ``<kind>_create`` that queues its job), ``runner`` (the job's work),
``selectors`` (reads), ``presenters`` (a page's data shaping), ``forms``,
``views`` and ``urls``, as it needs them. Models stay in ``curation.models``
(one per app, so no migration follows a move).

* ``jobs``: background jobs: create, claim, progress, cancel, recover; the
  Celery tasks; the runner registry; the job pages.
* ``generation``: candidate generation (job, page).
* ``judging``: the algorithmic judge (job, page).
* ``ches``: hidden-state encodings of responses and CHES from them (the
  encode job; the reads the audit and the exports use).
* ``synthesis``: Magpie instruction synthesis, its filters and tags (job, pages).
* ``audit``: the audit pipeline (one module per metric family), what it
  stores, and the dashboards.
* ``exports``: dataset formats (no ORM), the export job and its options.
* ``imports``: importing a file as a job (the parsing is
  ``annotate.services.importing``'s), its rejected lines.
* ``people``: invitation links, members' accounts (deactivate,
  reactivate, password reset links).
* ``items``: the item browser and a curator's actions on an item.
* ``projects``: the curator's project list, overview, members and import page.
* ``llm``: the model runtime (no ORM): loading, generation, encoding, judging.
* ``metrics``: pure functions on numpy arrays (no ORM), tested against
  reference implementations.
* ``consensus.py`` (to come): the one consensus rule every reader shares.

``curation.urls`` collects every package's URLs under their namespaces.
"""
