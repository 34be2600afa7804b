"""Catalogue writes: submitting bundles and the reviewer's decisions on them.

- :mod:`~market.review.submit`: submissions and their review report;
- :mod:`~market.review.transitions`: the review states, and :func:`transition`, the
  one way an entry changes state;
- :mod:`~market.review.signed`: approval as verified (sign and re-pack);
- :mod:`~market.review.derived`: the columns derived from the manifest, rebuilt by one
  function (and ``manage.py market_rebuild``);
- :mod:`~market.review.locking`: the per-id review lock.
"""

from market.review.derived import catalog_rebuild, latest_approved, rebuild_derived
from market.review.signed import sign_and_repack
from market.review.submit import (
    catalog_entry_submit,
    catalog_entry_submit_upload,
    review_diff,
)
from market.review.transitions import (
    TRANSITIONS,
    allowed_actions,
    catalog_entry_approve,
    catalog_entry_delist,
    catalog_entry_reject,
    catalog_entry_yank,
    transition,
)

__all__ = [
    "TRANSITIONS",
    "allowed_actions",
    "catalog_entry_approve",
    "catalog_entry_delist",
    "catalog_entry_reject",
    "catalog_entry_submit",
    "catalog_entry_submit_upload",
    "catalog_entry_yank",
    "catalog_rebuild",
    "latest_approved",
    "rebuild_derived",
    "review_diff",
    "sign_and_repack",
    "transition",
]
