from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0004_encoding_model_identity"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[
                    ("generate", "Generate candidates"),
                    ("judge", "Algorithmic judge"),
                    ("encode", "Encode (hidden states)"),
                    ("audit", "Audit"),
                    ("synthesize", "Synthesize prompts"),
                    ("export", "Export dataset"),
                    ("import", "Import items"),
                ],
                max_length=16,
            ),
        ),
        migrations.RemoveConstraint(model_name="job", name="job_kind_valid"),
        migrations.AddConstraint(
            model_name="job",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("kind__in", ["generate", "judge", "encode", "audit", "synthesize", "export", "import"])
                ),
                name="job_kind_valid",
            ),
        ),
    ]
