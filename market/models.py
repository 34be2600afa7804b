"""Persistent state of the marketplace: catalogue, installs, lifecycle record."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from market.manifest.registry import TrustLevel


class CatalogEntry(models.Model):
    """One submitted bundle: an extension id at one version, with its review state."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        DELISTED = "delisted", "Delisted"
        # Withdrawn as a version, not as an extension: still reserved, never the
        # newest (see market.review.transitions).
        YANKED = "yanked", "Yanked"

    class Trust(models.TextChoices):
        # Values and labels from the manifest registry's enum (one list of trust
        # levels everywhere); tests/test_trust_levels.py holds the members to it.
        UNVERIFIED = TrustLevel.UNVERIFIED.value, TrustLevel.UNVERIFIED.label
        VERIFIED = TrustLevel.VERIFIED.value, TrustLevel.VERIFIED.label

    class Source(models.TextChoices):
        LOCAL = "local", "Submitted here"
        # Synced from the central marketplace's signed snapshot (market.upstream):
        # no stored bundle; installs download it and check it against the snapshot.
        UPSTREAM = "upstream", "Central marketplace"

    extension_id = models.CharField(max_length=64)
    version = models.CharField(max_length=128)
    name = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    authors = models.JSONField(default=list)
    manifest = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64)
    package = models.FileField(upload_to="bundles/", max_length=300, blank=True)
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.LOCAL
    )
    # Upstream rows: the snapshot's signature of the bundle and the state's time.
    upstream = models.JSONField(default=dict, blank=True)
    package_sha256 = models.CharField(max_length=64, db_index=True)
    package_size = models.BigIntegerField()
    trust_level = models.CharField(
        max_length=16, choices=Trust.choices, default=Trust.UNVERIFIED
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # True on the newest approved version of each id: the catalogue lists these rows.
    is_latest = models.BooleanField(default=False)
    # Space-delimited " scope scope " strings so ?permission= / ?hook= filters are plain
    # substring lookups on every database backend.
    permission_index = models.TextField(blank=True, default="")
    hook_index = models.TextField(blank=True, default="")
    # ``compatibility.studio`` of the manifest ("" when it has none), so ``list`` and
    # ``catalog/`` mark entries compatible without decoding a manifest per entry.
    studio_range = models.CharField(max_length=256, blank=True, default="")
    report = models.JSONField(default=dict, blank=True)
    # The catalogue card (manifest summary, permissions, hooks), computed once at
    # submission so listing 10,000 entries never re-derives it from the manifest.
    card = models.JSONField(default=dict, blank=True)
    # The entry's catalogue JSON as ``list`` serves it, written when it is approved,
    # so ``list`` joins stored text instead of re-encoding every entry per request.
    listing = models.TextField(blank=True, default="")
    review_reason = models.TextField(blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="market_submissions",
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="market_reviews",
    )
    submitted_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # When it was approved; kept when a later yank or delisting sets ``reviewed_at``.
    approved_at = models.DateTimeField(null=True, blank=True)
    # The catalogue revision (``CatalogRevision.number``) of the last change to what
    # the signed snapshot says of this entry, set in the transaction that bumps it:
    # ``snapshot?since=R`` reads the ids changed after R through its index.
    changed_revision = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "catalog entries"
        ordering = ("extension_id", "-submitted_at")
        constraints = (
            models.UniqueConstraint(
                fields=("extension_id", "version"), name="catalog_unique_id_version"
            ),
        )
        indexes = (
            models.Index(fields=("status", "is_latest", "extension_id")),
            models.Index(fields=("extension_id", "status")),
            models.Index(
                fields=("changed_revision", "extension_id"),
                name="catalog_changed_revision",
            ),
        )
        permissions = (
            ("review_catalogentry", "Can review catalogue entries"),
            ("submit_catalogentry", "Can submit bundles for review"),
        )

    def __str__(self) -> str:
        return f"{self.extension_id} {self.version} ({self.status})"


class InstalledExtension(models.Model):
    """An extension installed by the marketplace (one row per id)."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded file"
        CATALOG = "catalog", "Catalogue"
        PATH = "path", "Server path"

    extension_id = models.CharField(max_length=64, unique=True)
    version = models.CharField(max_length=128)
    trust_level = models.CharField(max_length=16, choices=CatalogEntry.Trust.choices)
    manifest = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64)
    package_name = models.CharField(max_length=255)
    package_sha256 = models.CharField(max_length=64)
    package_size = models.BigIntegerField()
    source = models.CharField(max_length=16, choices=Source.choices)
    sidecar = models.JSONField(default=dict)
    warnings = models.JSONField(default=list, blank=True)
    catalog_entry = models.ForeignKey(
        CatalogEntry, null=True, blank=True, on_delete=models.SET_NULL
    )
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    installed_at = models.DateTimeField()

    class Meta:
        ordering = ("extension_id",)
        permissions = (
            ("install_extension", "Can install extensions from the marketplace"),
            ("uninstall_extension", "Can uninstall marketplace extensions"),
            ("manage_feature_flags", "Can change the marketplace feature flags"),
        )

    def __str__(self) -> str:
        return f"{self.extension_id} {self.version}"


class PreviousInstall(models.Model):
    """The version an upgrade replaced (one generation per id), kept for rollback.

    Its folder is ``<MARKET_ROOT>/previous/<id>`` with its own sidecar; the row is
    what the installed row was, field for field, so a rollback swaps the two back.
    """

    extension_id = models.CharField(max_length=64, unique=True)
    version = models.CharField(max_length=128)
    trust_level = models.CharField(max_length=16, choices=CatalogEntry.Trust.choices)
    manifest = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64)
    package_name = models.CharField(max_length=255)
    package_sha256 = models.CharField(max_length=64)
    package_size = models.BigIntegerField()
    source = models.CharField(max_length=16, choices=InstalledExtension.Source.choices)
    sidecar = models.JSONField(default=dict)
    warnings = models.JSONField(default=list, blank=True)
    catalog_entry = models.ForeignKey(
        CatalogEntry,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    installed_at = models.DateTimeField()
    kept_at = models.DateTimeField()

    class Meta:
        ordering = ("extension_id",)

    def __str__(self) -> str:
        return f"{self.extension_id} {self.version} (previous)"


class ExtensionSlot(models.Model):
    """A lockable row per extension id: installs/uninstalls of one id serialise on it.

    ``InstalledExtension`` can't be the lock: before the first install there is no row
    to lock, and after an uninstall the row is gone.
    """

    extension_id = models.CharField(max_length=64, primary_key=True)

    def __str__(self) -> str:
        return self.extension_id


class ExtensionOwner(models.Model):
    """Who may submit an extension id: its owner (the first user to submit it) and the
    maintainers the owner names.

    The row is also the catalogue's lock on the id: submissions of one id take it
    ``FOR UPDATE``, so ownership and version checks see every earlier submission.
    ``owner`` is empty only for an id no user has submitted yet (a bundle submitted
    by the server itself); the next user to submit it becomes its owner.
    """

    extension_id = models.CharField(max_length=64, unique=True)
    # PROTECT: a user who owns ids is not deleted until a reviewer transfers them.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="market_owned_extensions",
    )
    maintainers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ExtensionMaintainer",
        through_fields=("extension", "user"),
        related_name="market_maintained_extensions",
        blank=True,
    )
    owner_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("extension_id",)

    def __str__(self) -> str:
        return self.extension_id


class ExtensionMaintainer(models.Model):
    """A user the owner allows to submit versions of the id."""

    extension = models.ForeignKey(
        ExtensionOwner, on_delete=models.CASCADE, related_name="maintainer_rows"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="market_maintainer_rows",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("extension", "user")
        constraints = (
            models.UniqueConstraint(
                fields=("extension", "user"), name="market_maintainer_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.extension}: {self.user}"


class LifecycleAction(models.TextChoices):
    INSTALL = "install", "Install"
    UNINSTALL = "uninstall", "Uninstall"
    SUBMIT = "submit", "Submit"
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    DELIST = "delist", "Delist"
    YANK = "yank", "Yank"
    ROLLBACK = "rollback", "Roll back"
    REPAIR = "repair", "Repair"
    TRANSFER = "transfer", "Transfer ownership"
    MAINTAINER_ADD = "maintainer_add", "Add a maintainer"
    MAINTAINER_REMOVE = "maintainer_drop", "Remove a maintainer"


class LifecycleError(models.Model):
    """A failed lifecycle action, kept even when its transaction rolled back."""

    action = models.CharField(max_length=16, choices=LifecycleAction.choices)
    extension_id = models.CharField(max_length=64, blank=True)
    code = models.CharField(max_length=64)
    message = models.TextField()
    detail = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(fields=("extension_id", "created_at")),
            # health: install/uninstall rows, newest first
            models.Index(fields=("action", "created_at")),
        )

    def __str__(self) -> str:
        return f"{self.action} {self.extension_id or '-'}: {self.code}"


class LifecycleEvent(models.Model):
    """The audit log: every successful lifecycle action."""

    action = models.CharField(max_length=16, choices=LifecycleAction.choices)
    extension_id = models.CharField(max_length=64)
    version = models.CharField(max_length=128, blank=True)
    trust_level = models.CharField(max_length=16, blank=True)
    package_sha256 = models.CharField(max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(fields=("extension_id", "created_at")),
            # health: install/uninstall rows, newest first
            models.Index(fields=("action", "created_at")),
        )

    def __str__(self) -> str:
        return f"{self.action} {self.extension_id} {self.version}"


def _new_epoch() -> str:
    return secrets.token_hex(4)


class CatalogRevision(models.Model):
    """One row: the revision of everything ``list`` shows, bumped in the transaction of
    every change to it (approve, reject, delist, install, uninstall, repair, ...).

    ``list`` derives its ETag from ``number`` (so a 304 reads this row and nothing
    else) and caches rendered bodies under it; ``health`` reads ``listed`` instead of
    counting the catalogue. ``epoch`` is new whenever the row is created, so ETags
    from another database (or before a reset) never match.
    """

    number = models.BigIntegerField(default=0)
    # Approved entries at their newest version, recounted under this row's lock by
    # every catalogue decision.
    listed = models.IntegerField(default=0)
    epoch = models.CharField(max_length=16, default=_new_epoch)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"catalogue revision {self.number}"


class UpstreamState(models.Model):
    """One row: the last snapshot accepted from the central marketplace, and how the
    last sync went (``health`` shows it)."""

    url = models.CharField(max_length=500, blank=True)
    revision = models.BigIntegerField(null=True, blank=True)
    key_id = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_sync = models.DateTimeField(null=True, blank=True)
    last_attempt = models.DateTimeField(null=True, blank=True)
    last_error = models.JSONField(null=True, blank=True)
    # Set while a sync runs (at most one at a time, across processes).
    running_since = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"upstream revision {self.revision}"


class UpstreamKey(models.Model):
    """A central catalogue key accepted by rotation: published at ``snapshot/keys``
    signed by a pinned (or earlier accepted) key."""

    key_id = models.CharField(max_length=64, unique=True)
    public_key = models.CharField(max_length=64)
    signed_by = models.CharField(max_length=64)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("accepted_at", "id")

    def __str__(self) -> str:
        return f"{self.key_id} (signed by {self.signed_by})"
