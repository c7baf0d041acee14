import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("docket")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every app's ``tasks`` module, and the job runner's tasks (``curation.jobs.tasks``).
app.autodiscover_tasks()
app.autodiscover_tasks(["curation.jobs"])
