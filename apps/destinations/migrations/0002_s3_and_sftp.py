"""S3 and SFTP destinations: the S3 fields follow the API's names, SFTP fields are new."""

import django.core.validators
from django.db import migrations, models

import apps.common.fields


class Migration(migrations.Migration):
    dependencies = [
        ("destinations", "0001_initial"),
    ]

    operations = [
        migrations.RenameField("destination", "access_key", "access_key_id"),
        migrations.RenameField("destination", "secret_key", "secret_access_key"),
        migrations.AlterField(
            model_name="destination",
            name="kind",
            field=models.CharField(
                choices=[("local", "Local folder"), ("s3", "S3-compatible"), ("sftp", "SFTP server")],
                default="local",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="destination",
            name="region",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="destination",
            name="path_style",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="destination",
            name="lock_mode",
            field=models.CharField(
                blank=True,
                choices=[("governance", "Governance"), ("compliance", "Compliance")],
                default=None,
                max_length=10,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="destination",
            name="lock_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="destination",
            name="host",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="destination",
            name="port",
            field=models.PositiveIntegerField(
                blank=True,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(65535),
                ],
            ),
        ),
        migrations.AddField(
            model_name="destination",
            name="username",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="destination",
            name="password",
            field=apps.common.fields.EncryptedTextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="destination",
            name="private_key",
            field=apps.common.fields.EncryptedTextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="destination",
            name="host_key",
            field=models.TextField(blank=True, default=""),
        ),
    ]
