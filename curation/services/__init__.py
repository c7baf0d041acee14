"""Curation services, one module per area (generation, judging, ...).

Every module of this package is imported before a job runs
(``curation.jobs.load_runners``), so a module can register its job runner
with ``@job_runner(kind)``.

Compatibility: a plain ``curation/services.py`` module is shadowed by this
package; while one exists its public names are re-exported from here so
``from curation.services import x`` keeps working. Move it into this package
(e.g. ``curation/services/curators.py``) and re-export its names here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_module_file = Path(__file__).resolve().parent.parent / "services.py"
if _module_file.exists():
    _spec = importlib.util.spec_from_file_location("curation._services_module", _module_file)
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _module
    _spec.loader.exec_module(_module)
    globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
