"""Catalogue entries for the compatibility and dependency tests: built from the
``hello_minimal`` sample with another id, version, Studio range and dependencies,
submitted and approved as the review services do."""

from __future__ import annotations

from typing import Any

from market import review
from market.models import CatalogEntry


def publish(
    build_bundle: Any,
    ext_id: str,
    version: str,
    *,
    studio: str | None = None,
    deps: dict[str, str] | None = None,
    approve: bool = True,
) -> CatalogEntry:
    def edit(data: dict[str, Any]) -> None:
        data.update(id=ext_id, version=version, name=f"{ext_id} {version}")
        if studio is not None:
            data["compatibility"] = {"studio": studio}
        if deps is not None:
            data["dependencies"] = deps

    bundle = build_bundle("hello_minimal", edit=edit)
    entry = review.catalog_entry_submit(bundle_path=bundle.path)
    if approve:
        entry = review.catalog_entry_approve(entry=entry, trust_level="unverified")
    return CatalogEntry.objects.get(pk=entry.pk)
