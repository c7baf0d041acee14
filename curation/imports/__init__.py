"""Importing a JSONL file as a background job (kind ``import``).

The parsing and writing are ``annotate.services.importing.items_import``'s,
the one import service; this package makes it a job: ``import_create``
stores the upload and queues the job (the upload page, ``POST
…/import/`` and ``manage.py import_items`` call it), the runner imports it
with a progress bar and cancel, and each rejected line is kept as JSONL for
download.
"""
