import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("docket")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every app's ``tasks`` module, the job runner's tasks (``curation.jobs.tasks``) and the webhooks'.
app.autodiscover_tasks()
app.autodiscover_tasks(["curation.jobs", "curation.webhooks"])
# The batched annotation.created flush lives beside webhook_emit (curation.webhooks.events).
app.autodiscover_tasks(["curation.webhooks"], related_name="events")
