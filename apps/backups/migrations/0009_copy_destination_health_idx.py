from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0008_acknowledgement"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="backupcopy",
            index=models.Index(fields=["destination", "-id"], name="copy_dest_newest_idx"),
        ),
        migrations.AddIndex(
            model_name="backupcopy",
            index=models.Index(fields=["destination", "-verified_at"], name="copy_dest_verified_idx"),
        ),
    ]
