"""A model's identity: its name and a digest of its weights, not where its files lie.

Encodings for CHES (``ResponseEncoding.model_name``) are keyed by
:func:`model_identity`, so a new checkout or virtualenv (the default GGUF file
sits inside ``.venv``), a copied model folder or another machine reuses them,
and a changed model (other weights, config or tokenizer) encodes again.

``model_identity(ref)`` for a resolved reference (``runtime.resolve_name``):

* a ``.gguf`` file: ``"<file stem>@<digest>"``, the digest of the file (its
  weights, config and tokenizer are all inside it);
* a Hugging Face folder: ``"<folder name>@<digest>"``, the digest of its
  weight files, ``config.json`` and tokenizer files (names and contents);
* anything else (the OpenAI-compatible backend's model name): ``ref`` itself.

``<digest>`` is the first 16 hex digits of a SHA-256. File digests are cached
by (path, size, mtime) in this process and in ``DOCKET_MODEL_CACHE/digests.json``,
so a job does not hash gigabytes each time: only a new or changed file is read
(the default model's 100 MB take well under a second). A file stored in a
Hugging Face cache (``blobs/<sha256>``) is named by its SHA-256 already and
is not read at all.

No torch here: the web process and migrations import this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from pathlib import Path

from .model import setting

DIGEST_CHARS = 16
_FOLDER_FILES = (
    "*.safetensors",
    "*.bin",
    "*.gguf",
    "*.pt",
    "config.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEMO: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def _store_path() -> Path:
    return Path(str(setting("DOCKET_MODEL_CACHE", "") or "var/models")) / "digests.json"


def _read_store() -> dict:
    try:
        return json.loads(_store_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_store(entries: dict) -> None:
    path = _store_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="digests.", dir=path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(entries, handle, indent=0, sort_keys=True)
        os.replace(tmp, path)
    except OSError:  # a read-only cache folder: the digest is just not remembered across processes
        pass


def hash_file(path: Path) -> str:
    """SHA-256 hex of a file's bytes (read in 4 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(4 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 hex of ``path``, cached by (resolved path, size, mtime) in memory and on disk."""
    real = Path(path).resolve()
    if _HEX64.fullmatch(real.name) and real.parent.name == "blobs":
        return real.name  # a Hugging Face cache blob is named by its SHA-256
    stat = real.stat()
    key = (str(real), stat.st_size, stat.st_mtime_ns)
    with _LOCK:
        if key in _MEMO:
            return _MEMO[key]
        text_key = f"{key[0]}|{key[1]}|{key[2]}"
        entries = _read_store()
        digest = entries.get(text_key)
        if not digest:
            digest = hash_file(real)
            entries = {k: v for k, v in _read_store().items() if not k.startswith(f"{key[0]}|")}
            entries[text_key] = digest
            _write_store(entries)
        _MEMO[key] = digest
        return digest


def model_identity(ref: str) -> str:
    """``"<name>@<digest>"`` of a resolved model reference (see the module docstring)."""
    path = Path(ref)
    if path.is_file():
        return f"{path.stem}@{file_digest(path)[:DIGEST_CHARS]}"
    if path.is_dir():
        files = sorted({f for pattern in _FOLDER_FILES for f in path.glob(pattern) if f.is_file()})
        if not files:
            raise ValueError(f"model folder {ref} has no weight or config files")
        combined = hashlib.sha256()
        for f in files:
            combined.update(f"{f.name}\0{file_digest(f)}\n".encode())
        return f"{path.name}@{combined.hexdigest()[:DIGEST_CHARS]}"
    return ref
