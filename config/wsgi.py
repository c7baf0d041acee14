"""The WSGI application (gunicorn ``config.wsgi``).

Once the app is loaded, everything it loaded (Django, the URL patterns, the
templates of the annotate loop, NumPy, SciPy, PyArrow: ~150,000 objects) is
moved out of the garbage collector's sight with ``gc.freeze()``: those objects
live as long as the process, yet every full collection walked them all (~75 ms
during which no thread of the worker runs). Collections then look only at what
requests allocate.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _warm() -> None:
    """Load what the first requests would otherwise load lazily, so it is frozen too."""
    from django.template.loader import get_template
    from django.urls import get_resolver

    _ = get_resolver().url_patterns  # imports every URLconf and view module
    for name in ("annotate/annotate.html", "annotate/home.html", "annotate/project.html"):
        get_template(name)


_warm()
gc.collect()
gc.freeze()
