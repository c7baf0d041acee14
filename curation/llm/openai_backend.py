"""OpenAI-compatible HTTP backend (vLLM, TGI, llama.cpp server, ...).

Selected with ``DOCKET_LLM_BACKEND=openai``, ``DOCKET_OPENAI_BASE_URL``
(e.g. ``http://gpu-box:8000/v1``; a trailing ``/v1`` is optional) and
``DOCKET_OPENAI_API_KEY``; ``DOCKET_MODEL`` (or a project's model) is the
server's model name.

* generation: ``POST {base}/v1/chat/completions`` with ``messages, n,
  temperature, top_p, max_tokens, seed``; ``finished`` is
  ``finish_reason == "stop"``; ``n_tokens`` is the choice's logprob count when
  the server returns it, else ``usage.completion_tokens / n``.
* judge scoring: the same endpoint with ``max_tokens=1, temperature=0,
  logprobs=true, top_logprobs=20``; a label's probability is the summed
  ``exp(logprob)`` of top tokens equal to it after stripping whitespace
  (labels absent from the top 20 count 0), renormalised over the labels.
* hidden-state encoding is not available over HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import requests

from .model import GenerationOutput, LoadedModel, setting


class OpenAIBackendError(RuntimeError):
    """The server answered with an error or an unexpected body."""


class OpenAIClient:
    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 600.0):
        if not base_url:
            raise OpenAIBackendError("DOCKET_LLM_BACKEND=openai needs DOCKET_OPENAI_BASE_URL")
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.session = requests.Session()

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        resp = self.session.post(self.base_url + path, json=body, headers=headers, timeout=self.timeout)
        if resp.status_code != 200:
            raise OpenAIBackendError(f"POST {path} -> HTTP {resp.status_code}: {resp.text[:500]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise OpenAIBackendError(f"POST {path}: response is not JSON") from exc

    def chat(self, messages: list[dict], **params) -> dict:
        return self._post("/chat/completions", {"model": self.model, "messages": messages, **params})

    def generate_indexed(self, conversations, *, n, temperature, top_p, max_new_tokens, seed, on_batch):
        results = {}
        for i, conv in enumerate(conversations):
            params = {"n": n, "temperature": temperature, "top_p": top_p, "max_tokens": max_new_tokens}
            if seed is not None:
                params["seed"] = seed + i
            body = self.chat(list(conv), **params)
            choices = body.get("choices") or []
            if len(choices) != n:
                raise OpenAIBackendError(f"asked for n={n} choices, server returned {len(choices)}")
            usage = (body.get("usage") or {}).get("completion_tokens")
            outs = []
            for choice in sorted(choices, key=lambda c: c.get("index", 0)):
                text = ((choice.get("message") or {}).get("content") or "").strip()
                content = (choice.get("logprobs") or {}).get("content")
                n_tok = len(content) if content else (int(usage) // n if usage else 0)
                outs.append(GenerationOutput(text=text, n_tokens=n_tok, finished=choice.get("finish_reason") == "stop"))
            results[i] = outs
            if on_batch is not None and on_batch(len(results), len(conversations)) is False:
                break
        return results

    def label_probs(self, messages: list[dict], labels: Sequence[str]) -> dict[str, float]:
        body = self.chat(messages, max_tokens=1, temperature=0, logprobs=True, top_logprobs=20)
        try:
            top = body["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError) as exc:
            raise OpenAIBackendError("server returned no top_logprobs (does it support logprobs?)") from exc
        raw = dict.fromkeys(labels, 0.0)
        for entry in top:
            token = str(entry.get("token", "")).strip()
            if token in raw:
                raw[token] += math.exp(float(entry["logprob"]))
        total = sum(raw.values())
        if total <= 0:
            return {k: 1.0 / len(raw) for k in raw}
        return {k: v / total for k, v in raw.items()}


def load_openai_model(name: str) -> LoadedModel:
    client = OpenAIClient(
        str(setting("DOCKET_OPENAI_BASE_URL", "") or ""), str(setting("DOCKET_OPENAI_API_KEY", "") or ""), name
    )
    return LoadedModel(
        model=None,
        tokenizer=None,
        name=name,
        end_of_turn_id=None,
        eos_token_ids=[],
        device="http",
        backend="openai",
        source=client.base_url,
        client=client,
    )
