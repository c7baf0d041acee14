from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_heartbeat_thread(settings):
    """Jobs run in the test's own transaction, which the heartbeat thread's
    connection cannot see; progress writes refresh the heartbeat anyway."""
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
