"""Encodings are keyed by a model's identity (name + weights digest), not its path
(curation.llm.identity; issue 18): a copy elsewhere has the same identity, other bytes another one,
and the digest is cached by (path, size, mtime)."""

from __future__ import annotations

import os
import shutil

import pytest

from curation.llm import identity
from curation.llm.runtime import resolve_name


@pytest.fixture
def store(settings, tmp_path, monkeypatch):
    settings.DOCKET_MODEL_CACHE = str(tmp_path / "cache")
    monkeypatch.setattr(identity, "_MEMO", {})
    return tmp_path


def test_a_copied_gguf_keeps_its_identity_and_other_bytes_change_it(store):
    default = resolve_name(None)
    name = os.path.basename(default)
    first, second = store / "venv-a" / name, store / "venv-b" / name
    for target in (first, second):
        target.parent.mkdir()
        shutil.copyfile(default, target)
    key = identity.model_identity(str(first))
    assert key == identity.model_identity(str(second)) == identity.model_identity(default)
    stem, digest = key.split("@")
    assert stem == "SmolLM2-135M-Instruct.Q4_1" and len(digest) == identity.DIGEST_CHARS
    assert str(store) not in key
    with open(second, "r+b") as handle:  # other weights
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 1]))
    assert identity.model_identity(str(second)) != key


def test_folder_identity_covers_weights_config_and_tokenizer(store):
    folder = store / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "README.md").write_text("not part of the model")
    key = identity.model_identity(str(folder))
    assert key.startswith("my-model@")
    (folder / "README.md").write_text("edited")
    assert identity.model_identity(str(folder)) == key
    (folder / "tokenizer.json").write_text("{}")
    assert identity.model_identity(str(folder)) != key
    copy = store / "elsewhere" / "my-model"
    shutil.copytree(folder, copy)
    assert identity.model_identity(str(copy)) == identity.model_identity(str(folder))


def test_digest_is_cached_by_size_and_mtime_across_processes(store, monkeypatch):
    path = store / "w.gguf"
    path.write_bytes(b"abc")
    hashed = []
    real = identity.hash_file
    monkeypatch.setattr(identity, "hash_file", lambda p: hashed.append(p) or real(p))
    first = identity.file_digest(path)
    assert identity.file_digest(path) == first and len(hashed) == 1
    monkeypatch.setattr(identity, "_MEMO", {})  # a new process: the digest file answers
    assert identity.file_digest(path) == first and len(hashed) == 1
    assert (store / "cache" / "digests.json").is_file()
    path.write_bytes(b"abd")
    os.utime(path, ns=(1, 1))
    assert identity.file_digest(path) != first and len(hashed) == 2


def test_server_model_names_are_their_own_identity():
    assert identity.model_identity("meta-llama/Llama-3.1-70B-Instruct") == "meta-llama/Llama-3.1-70B-Instruct"
