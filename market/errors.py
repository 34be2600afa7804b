"""Domain errors of the marketplace.

Every error carries a stable snake_case ``code`` (part of the API contract: add codes,
never rename them), a human ``message`` and JSON-serialisable ``details``. Errors know
nothing about HTTP: ``market.api.exceptions`` maps codes to statuses in one table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, at a JSON-ish path (``routes[2].path``)."""

    path: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class MarketError(Exception):
    """Base class: a refusal the caller can act on, never a crash."""

    code = "market_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details if details is not None else {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ManifestError(MarketError):
    """The manifest is invalid; ``problems`` lists every problem, not the first."""

    code = "manifest_invalid"

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        self.problems = list(problems)
        if message is None:
            count = len(self.problems)
            noun = "problem" if count == 1 else "problems"
            message = f"manifest has {count} {noun}"
            if self.problems:
                first = self.problems[0]
                message += f"; first: {first.path}: {first.message}"
        super().__init__(
            message, details={"problems": [p.as_dict() for p in self.problems]}
        )


class ManifestMissingError(MarketError):
    code = "manifest_missing"


class SignatureMismatchError(MarketError):
    code = "signature_mismatch"


class SignatureUnsupportedError(MarketError):
    code = "signature_unsupported"


class TrustUnprovenError(MarketError):
    code = "trust_unproven"


class ContentMismatchError(MarketError):
    code = "content_mismatch"


class PackagingError(MarketError):
    """The packager could not build a bundle (bad source tree, output exists, ...)."""

    code = "packaging_failed"


class ArchiveError(MarketError):
    """A bundle could not be read as a zip archive at all."""

    code = "corrupt_archive"


class UnsafePathError(ArchiveError):
    code = "unsafe_path"


class UnsafeEntryTypeError(ArchiveError):
    code = "unsafe_entry_type"


class DuplicateEntryError(ArchiveError):
    code = "duplicate_entry"


class UnsupportedCompressionError(ArchiveError):
    code = "unsupported_compression"


class EncryptedEntryError(ArchiveError):
    code = "encrypted_entry"


class LimitExceededError(ArchiveError):
    code = "limit_exceeded"


class PackageTooLargeError(MarketError):
    code = "package_too_large"


class PathNotAllowedError(MarketError):
    code = "path_not_allowed"


class AlreadyInstalledError(MarketError):
    code = "already_installed"


class DowngradeRefusedError(MarketError):
    code = "downgrade_refused"


class NotInstalledError(MarketError):
    code = "not_installed"


class InstallInProgressError(MarketError):
    code = "install_in_progress"


class NotFoundError(MarketError):
    code = "not_found"


class InvalidRequestError(MarketError):
    code = "invalid_request"


class FeatureDisabledError(MarketError):
    code = "feature_disabled"


class ConfigError(MarketError):
    """A configuration file (flags, allowlist) is unreadable or malformed."""

    code = "config_invalid"


class ReviewError(MarketError):
    code = "review_refused"
