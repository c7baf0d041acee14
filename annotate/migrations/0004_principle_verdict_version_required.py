"""Every verdict records its principle version (filled in by 0003); a separate
migration, so the ALTER runs after 0003's updates have committed."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotate", "0003_principle_versions")]

    operations = [
        migrations.AlterField(
            model_name="principleverdict",
            name="version",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="verdicts",
                to="annotate.principleversion",
            ),
        ),
    ]
