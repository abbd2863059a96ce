import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("databases", "0001_initial"),
        ("groups", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="database",
            name="database_group_name_uniq",
        ),
        migrations.AddConstraint(
            model_name="database",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"),
                models.F("group"),
                name="database_group_lower_name_uniq",
            ),
        ),
    ]
