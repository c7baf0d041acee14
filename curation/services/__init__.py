"""Curation services, one module per area (curators, generation, judging, ...).

Every module of this package is imported before a job runs
(``curation.jobs.load_runners``), so a module can register its job runner
with ``@job_runner(kind)``.
"""
