"""The README's "For researchers" section, run block by block against a live
server, so the README and the code cannot drift apart.

The blocks run in document order, as a researcher would paste them: ``sh``
blocks in bash (what they export is carried to the next blocks), ``python``
blocks in one Python process (later blocks see earlier blocks' names). The
server is pytest-django's ``live_server`` with ``seed_demo``'s project and
users and a real Celery worker. Two strings are replaced, and only these:
the README's server address by the live server's, and the hub id of the
tokenizer in the TRL block by a local copy of the same model's tokenizer
(the default model, SmolLM2-135M-Instruct, from its GGUF file), since
nothing may be downloaded here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import ApiToken
from curation.models import Dataset

ROOT = Path(__file__).resolve().parents[1]
README_URL = "http://localhost:8000"
HUB_TOKENIZER = "HuggingFaceTB/SmolLM2-135M-Instruct"
BLOCK_TIMEOUT = 300

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def researcher_blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of every sh/python block of the section, in order."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## For researchers\n")
    end = text.index("\n## ", start + 1)
    section = text[start:end]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(sh|python)\n(.*?)^```$", section, re.M | re.S)]


RUNNER = r"""
import json, sys, traceback
namespace = {"__name__": "__readme__"}
for line in sys.stdin:
    code = json.loads(line)
    try:
        exec(compile(code, "<README block>", "exec"), namespace)
        status = {"ok": True}
    except BaseException:
        status = {"ok": False, "error": traceback.format_exc()}
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout.write("\0" + json.dumps(status) + "\n")
    sys.stdout.flush()
"""


class PythonSession:
    """One Python process that runs blocks one after the other in the same namespace."""

    def __init__(self, env: dict, cwd: Path, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", RUNNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            env=env,
            cwd=cwd,
            text=True,
        )

    def run(self, code: str) -> str:
        timer = threading.Timer(BLOCK_TIMEOUT, self.proc.kill)
        timer.start()
        try:
            self.proc.stdin.write(json.dumps(code) + "\n")
            self.proc.stdin.flush()
            out = []
            for line in self.proc.stdout:
                if line.startswith("\0"):
                    status = json.loads(line[1:])
                    break
                out.append(line)
            else:
                pytest.fail(
                    f"the Python block died or ran over {BLOCK_TIMEOUT} s:\n{code}\n{self.log.read_text()[-3000:]}"
                )
        finally:
            timer.cancel()
        if not status["ok"]:
            pytest.fail(f"README block failed:\n{code}\n{status['error']}\nstderr:\n{self.log.read_text()[-3000:]}")
        return "".join(out)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_shell(code: str, env: dict, cwd: Path) -> tuple[str, dict]:
    env_file = cwd / ".block-env"
    script = f"set -euo pipefail\n{code}\nenv -0 > {env_file}\n"
    done = subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=BLOCK_TIMEOUT
    )
    assert done.returncode == 0, f"README block failed ({done.returncode}):\n{code}\n{done.stderr}"
    exported = dict(entry.split("=", 1) for entry in env_file.read_text().split("\0") if "=" in entry)
    return done.stdout, exported


@pytest.fixture
def local_tokenizer(tmp_path_factory) -> Path:
    """The default model's tokenizer (from its GGUF file), saved as a folder ``from_pretrained`` reads."""
    from transformers import AutoTokenizer

    from curation.llm.runtime import default_gguf_path

    gguf = default_gguf_path()
    folder = tmp_path_factory.mktemp("tokenizer")
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True).save_pretrained(folder)
    return folder


def test_the_section_has_every_step():
    blocks = researcher_blocks()
    code = "\n".join(code for _lang, code in blocks)
    assert [lang for lang, _ in blocks][0] == "sh"
    for step in ("auth/token/", "Client(", ".items(", ".export(", ".wait(progress=True)", ".to_datasets()",
                 "maybe_apply_chat_template", '"researcher"', '"docket-demo"', "def verify_signature(",
                 ".add_webhook(", "events.get("):  # fmt: skip
        assert step in code, step


@pytest.fixture
def export_dir(settings, tmp_path):
    """Set before ``live_worker`` starts (it passes the setting on to the worker)."""
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    return settings.DOCKET_EXPORT_DIR


@pytest.fixture
def private_webhooks(settings, monkeypatch):
    """The README's receiver runs on this machine: the server (and the worker, started after) allow it."""
    settings.DOCKET_WEBHOOK_ALLOW_PRIVATE = True
    monkeypatch.setenv("DOCKET_WEBHOOK_ALLOW_PRIVATE", "true")


def test_the_researchers_section_runs(
    export_dir, private_webhooks, live_server, tmp_path, local_tokenizer, live_worker, monkeypatch
):
    monkeypatch.setenv("DOCKET_DEMO_PASSWORD", "docket-demo")  # make run's default (refused with DEBUG off)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # this checkout's client, whatever copy the environment has installed
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "clients" / "python"), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DOCKET_CACHE_DIR": str(tmp_path / "docket-cache"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets"),
    }
    outputs = []
    session = None
    try:
        for lang, code in researcher_blocks():
            code = code.replace(README_URL, live_server.url).replace(HUB_TOKENIZER, str(local_tokenizer))
            if lang == "sh":
                out, env = run_shell(code, env, work)
            else:
                session = session or PythonSession(env, work, tmp_path / "python-blocks.log")
                out = session.run(code)
            outputs.append(out)
    finally:
        if session is not None:
            session.close()

    printed = "".join(outputs)
    token = ApiToken.objects.get(user__username="researcher", name="laptop")
    assert token.last_used_at is not None
    assert "demo\n" in outputs[0]  # the projects the token reads
    assert "Docket demo researcher" in printed
    dataset = Dataset.objects.get(project__slug="demo", name="demo dpo")
    assert f"{dataset.row_count} [" in printed and dataset.row_count >= 1
    assert (work / "demo-dpo" / "manifest.json").is_file()
    assert "DatasetDict" in printed and "<|im_start|>assistant" in printed
    kto = Dataset.objects.get(project__slug="demo", name="demo kto")
    assert f"export.succeeded {kto.row_count} {kto.sha256[:12]}" in printed
