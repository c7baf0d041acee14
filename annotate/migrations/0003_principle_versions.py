"""Principle versions (issue 19, point 2): every principle gets its version 1
from its current wording, every existing verdict is given under it."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def versions_one(apps, schema_editor):
    Principle = apps.get_model("annotate", "Principle")
    PrincipleVersion = apps.get_model("annotate", "PrincipleVersion")
    PrincipleVerdict = apps.get_model("annotate", "PrincipleVerdict")
    for principle in Principle.objects.all().iterator():
        version = PrincipleVersion.objects.create(
            principle=principle, number=1, name=principle.name, description=principle.description, guidance=[]
        )
        Principle.objects.filter(pk=principle.pk).update(current_version=version)
        PrincipleVerdict.objects.filter(principle=principle).update(version=version)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0002_principle_retired_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="principle",
            name="guidance",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="PrincipleVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("name", models.CharField(max_length=100)),
                ("description", models.TextField(blank=True)),
                ("guidance", models.JSONField(blank=True, default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "principle",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="annotate.principle",
                    ),
                ),
            ],
            options={
                "ordering": ["principle", "number"],
                "constraints": [
                    models.UniqueConstraint(fields=("principle", "number"), name="principle_version_unique_number"),
                    models.CheckConstraint(
                        condition=models.Q(("number__gte", 1)), name="principle_version_number_positive"
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="principle",
            name="current_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="annotate.principleversion",
            ),
        ),
        migrations.AddField(
            model_name="principleverdict",
            name="version",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="verdicts",
                to="annotate.principleversion",
            ),
        ),
        migrations.RunPython(versions_one, migrations.RunPython.noop),
    ]
