from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("schedules", "0005_schedule_gfs_retention"),
    ]

    operations = [
        migrations.CreateModel(
            name="WatchdogMark",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=50, unique=True)),
                ("ran_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]
