"""Writes of the extension lifecycle: install, upgrade, uninstall.

Views, admin actions and commands call these; they call the pure modules (manifest,
sandbox, archive) and the models.
"""

from market.services.accounts import (
    ROLES,
    market_user_create,
    market_user_token,
    role_group,
)
from market.services.common import (
    SIDECAR_NAME,
    archive_limits,
    bundle_warnings,
    extensions_dir,
    server_allowlist,
    staging_dir,
)
from market.services.install import extension_install
from market.services.plan import (
    InstallResult,
    dependency_plan,
    extension_install_planned,
    extension_uninstall_planned,
)
from market.services.sources import (
    InstallSource,
    check_stored_bundle,
    local_package,
    materialise_catalog_package,
    source_from_catalog,
    source_from_path,
    source_from_upload,
    stored_bundle_mismatch,
)
from market.services.trust import establish_trust, prove_trust
from market.services.uninstall import extension_uninstall

__all__ = [
    "ROLES",
    "SIDECAR_NAME",
    "InstallResult",
    "InstallSource",
    "archive_limits",
    "bundle_warnings",
    "check_stored_bundle",
    "dependency_plan",
    "establish_trust",
    "extension_install",
    "extension_install_planned",
    "extension_uninstall",
    "extension_uninstall_planned",
    "extensions_dir",
    "local_package",
    "market_user_create",
    "market_user_token",
    "materialise_catalog_package",
    "prove_trust",
    "role_group",
    "server_allowlist",
    "source_from_catalog",
    "source_from_path",
    "source_from_upload",
    "staging_dir",
    "stored_bundle_mismatch",
]
