"""Extension manifests (format 1.1): parsing, validation, normalisation and digests.

Pure package: no Django. The packager, the install service and the admin share it;
they import from here, not from the modules below, which are laid out by job:

- ``registry``: versions, trust levels, permission scopes, HTTP methods, key sets.
- ``limits``: bounds on a manifest's size and shape (``LIMITS``), checked before
  any rule runs; JSON values no manifest may hold.
- ``parsing``: manifest bytes to a dict.
- ``schema``: the JSON Schema file and its validator.
- ``problems``: problem paths, schema-error mapping, the bounded ``ProblemList``.
- ``paths``: route path and bundle path checks.
- ``normalise``: ``normalise_manifest``, the ``Normaliser`` and ``Manifest``; its
  sections are in ``normalise_identity``, ``normalise_routes``, ``normalise_trust``
  on top of ``normalise_base``.
- ``digest``: canonical JSON, ``manifest_sha256``, the content record.
- ``ranges``: SemVer ranges (``compatibility.studio``, ``dependencies``), loaded
  when first used.
- ``signatures``: ``trust.signature`` parsing and sha256 verification.
- ``views``: capabilities, catalogue card, permission glossary, referenced files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from market.manifest.digest import (
    canonical_json,
    content_record,
    manifest_json_bytes,
    manifest_sha256,
)
from market.manifest.limits import (
    LIMITS,
    MAX_PROBLEMS,
    MAX_WARNINGS,
    ManifestLimits,
)
from market.manifest.limits import (
    check_size as check_manifest_size,
)
from market.manifest.normalise import Manifest, normalise_manifest
from market.manifest.parsing import parse_manifest_bytes, read_manifest_dir
from market.manifest.problems import ProblemList
from market.manifest.registry import (
    DEFAULT_MANIFEST_VERSION,
    HTTP_METHODS,
    ID_PATTERN,
    ID_RULE,
    KNOWN_PERMISSION_SCOPES,
    KNOWN_UI_SLOTS,
    MANIFEST_FILENAMES,
    PERMISSION_SCOPES,
    SCHEMA_ID,
    SENSITIVE_PERMISSION_SCOPES,
    SUPPORTED_MANIFEST_VERSIONS,
    TRUST_KEYS,
    TRUST_LEVELS,
    TrustLevel,
)
from market.manifest.schema import SCHEMA_PATH, load_schema
from market.manifest.signatures import parse_signature, verify_digest_signature
from market.manifest.views import (
    capabilities,
    entry_module_files,
    manifest_summary,
    missing_entry_problems,
    missing_file_problems,
    permissions_glossary,
    reference_problems,
    referenced_files,
    slots_glossary,
)

# The range parser (with its SemVer intervals) is loaded when one of its names is
# first used: the packager checks a manifest with no ranges without it.
_RANGE_NAMES = frozenset(
    {
        "RangeError",
        "VersionRange",
        "dependency_ranges",
        "parse_range",
        "parse_version",
        "satisfies",
        "studio_range",
    }
)

if TYPE_CHECKING:
    from market.manifest.ranges import (
        RangeError,
        VersionRange,
        dependency_ranges,
        parse_range,
        parse_version,
        satisfies,
        studio_range,
    )
else:

    def __getattr__(name: str) -> Any:
        if name not in _RANGE_NAMES:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.ranges"), name)
        globals()[name] = value
        return value


__all__ = [
    "DEFAULT_MANIFEST_VERSION",
    "HTTP_METHODS",
    "ID_PATTERN",
    "ID_RULE",
    "KNOWN_PERMISSION_SCOPES",
    "KNOWN_UI_SLOTS",
    "LIMITS",
    "MANIFEST_FILENAMES",
    "MAX_PROBLEMS",
    "MAX_WARNINGS",
    "PERMISSION_SCOPES",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "SENSITIVE_PERMISSION_SCOPES",
    "SUPPORTED_MANIFEST_VERSIONS",
    "TRUST_KEYS",
    "TRUST_LEVELS",
    "Manifest",
    "ManifestLimits",
    "ProblemList",
    "RangeError",
    "TrustLevel",
    "VersionRange",
    "canonical_json",
    "capabilities",
    "check_manifest_size",
    "content_record",
    "dependency_ranges",
    "entry_module_files",
    "load_schema",
    "manifest_json_bytes",
    "manifest_sha256",
    "manifest_summary",
    "missing_entry_problems",
    "missing_file_problems",
    "normalise_manifest",
    "parse_manifest_bytes",
    "parse_range",
    "parse_signature",
    "parse_version",
    "permissions_glossary",
    "read_manifest_dir",
    "reference_problems",
    "referenced_files",
    "satisfies",
    "slots_glossary",
    "studio_range",
    "verify_digest_signature",
]
