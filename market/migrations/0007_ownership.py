"""Owned extension ids: an id belongs to the user who first submitted it.

Every id already in the catalogue gets its owner row: the submitter of its earliest
entry that has one (an id only the server itself submitted stays without an owner
until a user submits it).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def give_ids_to_first_submitters(apps, schema_editor):
    CatalogEntry = apps.get_model("market", "CatalogEntry")
    ExtensionOwner = apps.get_model("market", "ExtensionOwner")
    owners = {}
    rows = CatalogEntry.objects.order_by("extension_id", "submitted_at", "id")
    fields = ("extension_id", "submitted_by_id", "submitted_at")
    for ext_id, user_id, at in rows.values_list(*fields):
        if owners.get(ext_id, (None, None))[0] is None:
            owners[ext_id] = (user_id, at if user_id is not None else None)
    ExtensionOwner.objects.bulk_create(
        [
            ExtensionOwner(extension_id=k, owner_id=user_id, owner_since=at)
            for k, (user_id, at) in owners.items()
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('market', '0006_route_effective_paths'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='lifecycleerror',
            name='action',
            field=models.CharField(choices=[('install', 'Install'), ('uninstall', 'Uninstall'), ('submit', 'Submit'), ('approve', 'Approve'), ('reject', 'Reject'), ('delist', 'Delist'), ('repair', 'Repair'), ('transfer', 'Transfer ownership'), ('maintainer_add', 'Add a maintainer'), ('maintainer_drop', 'Remove a maintainer')], max_length=16),
        ),
        migrations.AlterField(
            model_name='lifecycleevent',
            name='action',
            field=models.CharField(choices=[('install', 'Install'), ('uninstall', 'Uninstall'), ('submit', 'Submit'), ('approve', 'Approve'), ('reject', 'Reject'), ('delist', 'Delist'), ('repair', 'Repair'), ('transfer', 'Transfer ownership'), ('maintainer_add', 'Add a maintainer'), ('maintainer_drop', 'Remove a maintainer')], max_length=16),
        ),
        migrations.CreateModel(
            name='ExtensionMaintainer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('added_at', models.DateTimeField(auto_now_add=True)),
                ('added_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='market_maintainer_rows', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ('extension', 'user'),
            },
        ),
        migrations.CreateModel(
            name='ExtensionOwner',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('extension_id', models.CharField(max_length=64, unique=True)),
                ('owner_since', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('maintainers', models.ManyToManyField(blank=True, related_name='market_maintained_extensions', through='market.ExtensionMaintainer', through_fields=('extension', 'user'), to=settings.AUTH_USER_MODEL)),
                ('owner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='market_owned_extensions', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ('extension_id',),
            },
        ),
        migrations.AddField(
            model_name='extensionmaintainer',
            name='extension',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='maintainer_rows', to='market.extensionowner'),
        ),
        migrations.AddConstraint(
            model_name='extensionmaintainer',
            constraint=models.UniqueConstraint(fields=('extension', 'user'), name='market_maintainer_unique'),
        ),
        migrations.RunPython(give_ids_to_first_submitters, migrations.RunPython.noop),
    ]
