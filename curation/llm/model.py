"""What the model runtime hands around, with no heavy imports: a loaded model
(:class:`LoadedModel`), one generated continuation (:class:`GenerationOutput`),
the runtime's errors and :func:`setting`.

Both backends build a ``LoadedModel`` (``runtime`` for transformers,
``openai_backend`` for an OpenAI-compatible server); they import this module
and never each other, so the runtime has no import cycle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


class ModelNotFoundError(ValueError):
    """The model reference is neither a local folder nor a GGUF file."""


class BackendNotSupportedError(RuntimeError):
    """The operation needs the transformers backend (e.g. hidden states)."""


@dataclass
class LoadedModel:
    """A loaded model and what callers need to drive it.

    ``model`` / ``tokenizer`` are the transformers objects (``None`` for the
    HTTP backend, where ``client`` is set). ``end_of_turn_id`` is the token
    the chat template puts after an assistant message; ``eos_token_ids`` is
    the list generation stops on (end-of-turn first). ``name`` is what
    callers record as the model of a generated response.
    """

    model: Any
    tokenizer: Any
    name: str
    end_of_turn_id: int | None
    eos_token_ids: list[int]
    device: str
    backend: str = "transformers"
    source: str = ""
    client: Any = None
    load_seconds: float = 0.0
    from_cache: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.backend == "transformers"

    def require_local(self, what: str) -> None:
        if not self.is_local:
            raise BackendNotSupportedError(
                f"{what} needs the transformers backend (DOCKET_LLM_BACKEND=transformers); "
                f"model {self.name!r} is served over HTTP by the {self.backend!r} backend"
            )


@dataclass(frozen=True)
class GenerationOutput:
    """One sampled continuation.

    ``text``: decoded without special tokens, stripped. ``n_tokens``: tokens
    generated, the end-of-turn token included when ``finished``.
    ``finished``: stopped at end-of-turn / EOS (False: hit max_new_tokens).
    """

    text: str
    n_tokens: int
    finished: bool


def setting(name: str, default: Any = "") -> Any:
    """A Django setting, or the environment variable when Django is not configured."""
    if settings.configured:
        return getattr(settings, name, default)
    return os.environ.get(name, default)
