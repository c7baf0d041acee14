"""Every curator page's URL, collected from the feature packages.

Each package's ``urls.py`` lists its own paths; the namespaces that
templates, tests and redirects reverse are given here: ``curation:``
(projects, new project, settings, members, invitations, import, activity, items), ``jobs:`` (job
pages, the generate and judge launch forms, an import's rejected lines), ``synthesis:``, ``audit:``,
``webhooks:`` and ``datasets:`` (the researchers' datasets pages, ``p/<slug>/datasets/``). Every other
path starts with ``curate/``, ``projects/`` or ``p/<slug>/curate/`` (annotator pages own ``/`` and
``/p/<slug>/`` and what follows it but ``datasets/`` and ``curate/``), so none overlaps another.
"""

from django.urls import include, path

from curation.audit import urls as audit
from curation.exports import urls as datasets
from curation.generation import urls as generation
from curation.imports import urls as imports
from curation.items import urls as items
from curation.jobs import urls as jobs
from curation.judging import urls as judging
from curation.people import urls as people
from curation.projects import urls as projects
from curation.refinement import urls as refinement
from curation.synthesis import urls as synthesis
from curation.webhooks import urls as webhooks

urlpatterns = [
    path("", include((projects.urlpatterns + items.urlpatterns + people.urlpatterns, "curation"))),
    path("", include((jobs.urlpatterns + generation.urlpatterns + judging.urlpatterns + imports.urlpatterns, "jobs"))),
    path("", include((synthesis.urlpatterns, "synthesis"))),
    path("", include((audit.urlpatterns, "audit"))),
    path("", include((datasets.urlpatterns, "datasets"))),
    path("", include((webhooks.urlpatterns, "webhooks"))),
    path("", include((refinement.urlpatterns, "refinement"))),
]
