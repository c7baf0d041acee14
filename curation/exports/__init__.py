"""Curated dataset exports.

The formats know nothing of the ORM: records in, JSONL + Parquet + manifest
+ card out (the modules re-exported here). The export job reads the
database and calls them: ``options`` (every export option and its check),
``services`` (``export_create``: the REST API and ``manage.py
export_dataset``), ``runner`` (the 'export' job), ``orm`` (items and audit
findings as records), ``selectors`` (datasets and their files).

Public API of the formats (what the ORM layer, the export job and the REST API call):

* records: :class:`PromptRec`, :class:`ResponseRec`, :class:`JudgmentRec`,
  :class:`ItemRec` (:mod:`.records` documents every field);
* :func:`export_run` (:mod:`.run`) with :class:`ExportOptions` (:mod:`.base`)
  and :class:`FilterSpec` (:mod:`.filters`), returning :class:`ExportResult`;
* :data:`FORMATS`: ``dpo``, ``kto``, ``ranking``, ``judgment``, ``sft``, ``raw``
  (one module each, rules in its docstring);
* helpers: :func:`split_of`, :func:`kto_weights`, :func:`pseudonym`,
  :func:`dataset_card`, :func:`build_manifest`.
"""

from .base import ExportOptions
from .filters import FilterSpec, split_of
from .kto import kto_weights
from .manifest import build_manifest, dataset_card
from .raw import pseudonym
from .records import ExportInputError, ItemRec, JudgmentRec, PromptRec, ResponseRec
from .run import FORMATS, ExportResult, export_run

__all__ = [
    "FORMATS",
    "ExportInputError",
    "ExportOptions",
    "ExportResult",
    "FilterSpec",
    "ItemRec",
    "JudgmentRec",
    "PromptRec",
    "ResponseRec",
    "build_manifest",
    "dataset_card",
    "export_run",
    "kto_weights",
    "pseudonym",
    "split_of",
]
