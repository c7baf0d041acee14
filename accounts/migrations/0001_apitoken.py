import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


def copy_knox_tokens(apps, schema_editor):
    """Tokens made before named tokens existed (knox's own table) keep working."""
    KnoxToken = apps.get_model("knox", "AuthToken")
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                digest=t.digest,
                token_key=t.token_key,
                user_id=t.user_id,
                created=t.created,
                expiry=t.expiry,
                uuid=uuid.uuid4(),
                name="API login",
            )
            for t in KnoxToken.objects.all()
        ],
        batch_size=1000,
    )
    KnoxToken.objects.all().delete()


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('digest', models.CharField(max_length=128, primary_key=True, serialize=False)),
                ('token_key', models.CharField(db_index=True, max_length=25)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('expiry', models.DateTimeField(blank=True, null=True)),
                ('uuid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('name', models.CharField(blank=True, max_length=100)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created'],
                'indexes': [models.Index(fields=['user', '-created'], name='apitoken_user_created_idx')],
            },
        ),
        migrations.RunPython(copy_knox_tokens, migrations.RunPython.noop),
    ]
