"""The OpenAI-compatible HTTP backend against a local stub server (no real model)."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from curation.llm import judge, runtime
from curation.llm.encode import encode_responses
from curation.llm.generate import generate
from curation.llm.openai_backend import OpenAIBackendError


class _Stub(BaseHTTPRequestHandler):
    requests: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        if body.get("logprobs"):
            user = body["messages"][-1]["content"]
            top = (
                [{"token": "yes", "logprob": math.log(0.6)}, {"token": "No", "logprob": math.log(0.2)}]
                if "## Question" in user
                else [
                    {"token": "A", "logprob": math.log(0.5)},
                    {"token": " A", "logprob": math.log(0.1)},
                    {"token": "B", "logprob": math.log(0.2)},
                    {"token": "The", "logprob": math.log(0.1)},
                ]
            )
            payload = {
                "choices": [
                    {
                        "index": 0,
                        "message": {"content": "A"},
                        "logprobs": {"content": [{"token": "A", "logprob": -0.5, "top_logprobs": top}]},
                        "finish_reason": "length",
                    }
                ]
            }
        else:
            n = body.get("n", 1)
            payload = {
                "choices": [
                    {
                        "index": i,
                        "message": {"content": f" reply {i} to {body['messages'][-1]['content']} "},
                        "finish_reason": "stop" if i == 0 else "length",
                    }
                    for i in range(n)
                ],
                "usage": {"completion_tokens": 5 * n},
            }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def http_model(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Stub.requests = []
    settings.DOCKET_LLM_BACKEND = "openai"
    settings.DOCKET_MODEL = "served-model"
    settings.DOCKET_OPENAI_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.DOCKET_OPENAI_API_KEY = "sk-test"
    saved = dict(runtime._MODELS)
    runtime.clear_models()
    try:
        yield runtime.get_model(None)
    finally:
        runtime.clear_models()
        runtime._MODELS.update(saved)
        server.shutdown()
        server.server_close()


def test_generate_over_http(http_model):
    assert http_model.backend == "openai" and http_model.name == "served-model"
    conv = [{"role": "user", "content": "hi"}]
    out = generate(http_model, [conv, conv], n=2, temperature=0.5, top_p=0.9, max_new_tokens=7, seed=3)
    assert [o.text for o in out[0]] == ["reply 0 to hi", "reply 1 to hi"]
    assert [o.finished for o in out[0]] == [True, False]
    assert out[0][0].n_tokens == 5
    req = _Stub.requests[0]
    assert req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "served-model"
    assert {k: req["body"][k] for k in ("n", "temperature", "top_p", "max_tokens", "seed")} == {
        "n": 2,
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 7,
        "seed": 3,
    }


def test_judge_over_http_uses_top_logprobs(http_model):
    conv = [{"role": "user", "content": "2+2?"}]
    probs = judge.pairwise_probs(http_model, conv, "4", "5")
    assert probs["A"] == pytest.approx(0.6 / 0.8)
    assert probs["B"] == pytest.approx(0.2 / 0.8)
    body = _Stub.requests[-1]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert "## Response 'A'\n4" in body["messages"][-1]["content"]
    with_na = judge.pairwise_probs(http_model, conv, "4", "5", principle="Be honest")
    assert with_na["NA"] == 0.0
    thumb = judge.thumb_probs(http_model, conv, "4")
    assert thumb["yes"] == pytest.approx(0.75)


def test_encoding_needs_transformers(http_model):
    with pytest.raises(runtime.BackendNotSupportedError, match="transformers"):
        encode_responses(http_model, [{"role": "user", "content": "x"}], ["y"])


def test_http_error_is_reported(http_model):
    http_model.client.base_url += "/nope"
    with pytest.raises(OpenAIBackendError, match="404"):
        generate(http_model, [[{"role": "user", "content": "x"}]], max_new_tokens=2)
