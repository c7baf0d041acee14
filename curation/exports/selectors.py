"""Reads of exported datasets: a project's datasets, a dataset's folder and the
one file of it that may be served (the API's downloads and the command's copy)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import Http404

from curation.models import Dataset


def export_root() -> Path:
    return Path(settings.DOCKET_EXPORT_DIR)


def datasets_for_project(*, project):
    """The project's datasets, newest first."""
    return Dataset.objects.filter(project=project).select_related("job", "created_by").order_by("-created_at", "-id")


def dataset_folder(*, dataset: Dataset) -> Path:
    return export_root() / dataset.path


def dataset_file_names(*, dataset: Dataset) -> list[str]:
    """What can be downloaded: the data files, the card and the manifest."""
    return [f["name"] for f in dataset.files] + ["README.md", "manifest.json"]


def dataset_file_path(*, dataset: Dataset, name: str) -> Path:
    """The file ``name`` of ``dataset`` on disk; ``Http404`` for anything else.

    Only names the dataset lists are served (so ``../`` tricks, absolute paths
    and other datasets' files are refused), and the resolved path must still
    lie inside the dataset's folder (a symlink pointing out is refused too).
    """
    if not dataset.path or name not in dataset_file_names(dataset=dataset):
        raise Http404("no such file in this dataset")
    root = export_root().resolve()
    folder = (root / dataset.path).resolve()
    path = (folder / name).resolve()
    if not folder.is_relative_to(root) or folder == root or not path.is_relative_to(folder) or not path.is_file():
        raise Http404("no such file in this dataset")
    return path
