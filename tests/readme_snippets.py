"""Code the tests take from the README itself, so the README's snippets are the ones tested."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_block_defining(name: str) -> str:
    """The README's ``python`` block that defines ``name``."""
    text = (ROOT / "README.md").read_text()
    for code in re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S):
        if f"def {name}(" in code:
            return code
    raise LookupError(f"no python block of the README defines {name}")


def _load(name: str):
    namespace: dict = {}
    exec(compile(readme_block_defining(name), "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    return namespace[name]


verify_signature = _load("verify_signature")
