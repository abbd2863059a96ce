from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("schedules", "0004_schedule_drill_target"),
    ]

    operations = [
        migrations.AddField(
            model_name="schedule",
            name=name,
            field=models.PositiveIntegerField(blank=True, null=True),
        )
        for name in ("keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
    ]
