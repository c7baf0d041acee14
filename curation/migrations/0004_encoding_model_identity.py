"""Re-key stored CHES encodings from a model's path to its identity (name + weights digest,
``curation.llm.identity``), so a new checkout or virtualenv keeps using them.

A row whose ``model_name`` is a path that still exists gets that model's identity; when the
response already has a row under the identity the old row is dropped. Rows whose path is gone
(an old virtualenv) cannot be identified and stay as they are: nothing reads them, and the next
encode job encodes those responses again. Reverse: nothing to undo (the identities stay).
"""

from pathlib import Path

from django.db import migrations


def rekey(apps, schema_editor):
    from curation.llm.identity import model_identity

    encodings = apps.get_model("curation", "ResponseEncoding")
    names = encodings.objects.values_list("model_name", flat=True).distinct()
    for name in [n for n in names if n.startswith("/")]:
        path = Path(name)
        if not (path.is_file() or path.is_dir()):
            continue
        try:
            identity = model_identity(name)
        except (OSError, ValueError):
            continue
        if identity == name:
            continue
        old = encodings.objects.filter(model_name=name)
        taken = encodings.objects.filter(model_name=identity).values("response_id")
        old.filter(response_id__in=taken).delete()
        old.update(model_name=identity)


class Migration(migrations.Migration):
    dependencies = [("curation", "0003_synthesizedinstruction")]

    operations = [migrations.RunPython(rekey, migrations.RunPython.noop)]
