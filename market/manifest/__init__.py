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
- ``signatures``: ``trust.signature`` parsing and sha256 verification.
- ``views``: capabilities, catalogue card, permission glossary, referenced files.
"""

from __future__ import annotations

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
    "TrustLevel",
    "canonical_json",
    "capabilities",
    "check_manifest_size",
    "content_record",
    "entry_module_files",
    "load_schema",
    "manifest_json_bytes",
    "manifest_sha256",
    "manifest_summary",
    "missing_entry_problems",
    "missing_file_problems",
    "normalise_manifest",
    "parse_manifest_bytes",
    "parse_signature",
    "permissions_glossary",
    "read_manifest_dir",
    "reference_problems",
    "referenced_files",
    "slots_glossary",
    "verify_digest_signature",
]
