from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workflow_api", "0013_task_search"),
    ]

    operations = [
        migrations.CreateModel(
            name="SavedTaskView",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("owner_id", models.BigIntegerField()),
                ("name", models.CharField(max_length=100)),
                ("query", models.JSONField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["name", "id"]},
        ),
        migrations.AddConstraint(
            model_name="savedtaskview",
            constraint=models.UniqueConstraint(fields=("owner_id", "name"), name="saved_view_owner_name"),
        ),
    ]
