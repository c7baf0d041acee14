"""End-to-end tests: Chromium (Debian's) through pytest-playwright, as in tests/browser."""

from __future__ import annotations

from tests.browser.conftest import browser_type_launch_args  # noqa: F401  (the same launch flags)
