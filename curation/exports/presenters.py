"""What the datasets pages show of a manifest or a live count: the removals per
filter, and the copy-paste snippets that load a dataset (``datasets`` and the
Python client)."""

from __future__ import annotations

import json

from django.urls import reverse

from curation.models import Dataset


def removals(filter_report: list[dict], dropped_by_format: list[dict]) -> list[dict]:
    """One row per filter (in the order they ran) then per reason the format dropped rows:
    ``{name, unit, removed, reason}``."""
    rows = [
        {
            "name": f.get("name", ""),
            "unit": f.get("unit", "items"),
            "removed": f.get("removed", 0),
            "reason": f.get("reason", ""),
        }
        for f in filter_report or []
    ]
    rows += [
        {
            "name": d.get("reason", ""),
            "unit": "rows (format)",
            "removed": d.get("count", 0),
            "reason": d.get("description", ""),
        }
        for d in dropped_by_format or []
    ]
    return rows


def manifest_removals(manifest: dict) -> list[dict]:
    return removals(manifest.get("filter_report") or [], manifest.get("dropped_by_format") or [])


def count_removals(count) -> list[dict]:
    """The same rows for an ``ExportCount`` (the live count)."""
    dropped = [{"reason": reason, "count": n, "description": ""} for reason, n in sorted(count.dropped.items())]
    return removals(count.filter_report, dropped)


def dataset_snippets(request, *, dataset: Dataset) -> dict[str, str]:
    """``load_dataset`` (remote, with the token header) and ``docket_client`` code for ``dataset``."""
    site = request.build_absolute_uri("/").rstrip("/")
    data_files: dict[str, list[str]] = {}
    for f in dataset.files:
        if f.get("format") == "parquet":
            url = reverse("api-dataset-file", kwargs={"dataset_id": dataset.uuid, "name": f["name"]})
            data_files.setdefault(f.get("split") or "train", []).append(site + url)
    files_text = ",\n".join(
        f"        {json.dumps(split)}: {json.dumps(urls[0] if len(urls) == 1 else urls)}"
        for split, urls in sorted(data_files.items())
    )
    load = (
        "# pip install datasets 'fsspec[http]'; DOCKET_TOKEN: one of your API tokens\n"
        "import os\n"
        "from datasets import load_dataset\n"
        "\n"
        "ds = load_dataset(\n"
        '    "parquet",\n'
        "    data_files={\n"
        f"{files_text},\n"
        "    },\n"
        '    storage_options={"headers": {"Authorization": "Token " + os.environ["DOCKET_TOKEN"]}},\n'
        ")\n"
        "print(ds)\n"
    )
    client = (
        "import os\n"
        "from docket_client import Client\n"
        "\n"
        f'client = Client("{site}", os.environ["DOCKET_TOKEN"])\n'
        f'dataset = client.dataset("{dataset.uuid}")\n'
        f'paths = dataset.download("{dataset.project.slug}-{dataset.format}")  # files checked against their sha256\n'
        "ds = dataset.to_datasets()  # a datasets.DatasetDict\n"
        "print(ds)\n"
    )
    archive = reverse("api-dataset-archive", kwargs={"dataset_id": dataset.uuid})
    shell = f'curl -fOJ -H "Authorization: Token $DOCKET_TOKEN" {site}{archive}\n'
    return {"load_dataset": load, "client": client, "curl": shell}
