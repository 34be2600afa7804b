"""Catalogue writes: submitting bundles and the reviewer's decisions on them.

- :mod:`~market.review.submit`: submissions and their review report;
- :mod:`~market.review.state`: locking, the newest approved version, the audit trail;
- :mod:`~market.review.signed`: approval as verified (sign and re-pack);
- :mod:`~market.review.decisions`: approve, reject, delist.
"""

from market.review.decisions import (
    catalog_entry_approve,
    catalog_entry_delist,
    catalog_entry_reject,
)
from market.review.signed import sign_and_repack
from market.review.state import latest_approved
from market.review.submit import (
    catalog_entry_submit,
    catalog_entry_submit_upload,
    review_diff,
)

__all__ = [
    "catalog_entry_approve",
    "catalog_entry_delist",
    "catalog_entry_reject",
    "catalog_entry_submit",
    "catalog_entry_submit_upload",
    "latest_approved",
    "review_diff",
    "sign_and_repack",
]
