"""Helpers of the audit job (``curation.services.auditing`` holds the runner)."""
