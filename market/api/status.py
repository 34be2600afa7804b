"""Which HTTP status answers which refusal: one table, keyed by exception class.

Domain errors carry no HTTP status. :data:`STATUS_BY_ERROR` gives one to each
``MarketError`` class; a class without an entry of its own takes its nearest
ancestor's (resolved along the MRO, the way DRF's ``exception_handler`` treats
``APIException`` subclasses). A new error class is one line here, and
``tests/api/test_status.py`` fails until it has one.

Some codes have no class: the HTTP layer's own refusals (``not_authenticated``,
``throttled``, ...) and codes given when raising (``ReviewError(...,
code="version_exists")``). They live in :data:`STATUS_BY_CODE_ONLY`;
:data:`STATUS_BY_CODE` joins both, for callers that only have a code (middleware,
Django's handlers).
"""

from __future__ import annotations

from market import errors as e

STATUS_BY_ERROR: dict[type[e.MarketError], int] = {
    e.MarketError: 400,
    e.InvalidRequestError: 400,
    e.InvalidCharactersError: 400,
    e.ManifestError: 422,
    e.ManifestLimitError: 422,
    e.ManifestMissingError: 422,
    e.SignatureMismatchError: 422,
    e.SignatureUnsupportedError: 422,
    e.TrustUnprovenError: 422,
    e.ContentMismatchError: 422,
    e.PackagingError: 422,
    e.ArchiveError: 422,
    e.UnsafePathError: 422,
    e.UnsafeEntryTypeError: 422,
    e.DuplicateEntryError: 422,
    e.UnsupportedCompressionError: 422,
    e.EncryptedEntryError: 422,
    e.LimitExceededError: 422,
    e.PackageTooLargeError: 413,
    e.PathNotAllowedError: 403,
    e.UnusablePathError: 400,
    e.FeatureDisabledError: 403,
    e.NotFoundError: 404,
    e.NotInstalledError: 404,
    e.AlreadyInstalledError: 409,
    e.DowngradeRefusedError: 409,
    e.InstallInProgressError: 409,
    e.IncompatibleError: 409,
    e.MissingDependencyError: 409,
    e.DependencyCycleError: 409,
    e.DependencyInUseError: 409,
    e.ReviewError: 409,
    e.OwnershipError: 409,
    e.NotOwnerError: 403,
    e.NotMaintainerError: 404,
    e.UnknownUserError: 404,
    e.PermissionDeniedError: 403,
    e.SigningKeyMissingError: 409,
    e.SigningKeyExistsError: 409,
    e.TooManyPendingError: 429,
    e.ConsentRequiredError: 409,
    e.NoPreviousVersionError: 409,
    e.LockMismatchError: 409,
    e.RestoreConflictError: 409,
    e.SnapshotError: 502,
    e.SnapshotInvalidError: 502,
    e.SnapshotUntrustedError: 502,
    e.SnapshotRollbackError: 502,
    # The last snapshot accepted has expired: installs from it wait for a sync.
    e.SnapshotExpiredError: 409,
    e.UpstreamUnavailableError: 502,
    e.UpstreamNotConfiguredError: 409,
    e.SyncInProgressError: 409,
    # The server's own configuration is broken: never the client's fault.
    e.ConfigError: 500,
}

STATUS_BY_CODE_ONLY: dict[str, int] = {
    # Raised with an explicit code, or by modules that add their class later.
    "version_exists": 409,
    "reason_required": 400,
    "review_in_progress": 409,
    "incompatible": 409,
    "missing_dependency": 409,
    "dependency_in_use": 409,
    # The HTTP layer's refusals (DRF, Django, the middleware).
    "not_authenticated": 401,
    "permission_denied": 403,
    "not_acceptable": 406,
    "method_not_allowed": 405,
    "request_too_large": 413,
    "unsupported_media_type": 415,
    "throttled": 429,
    "server_error": 500,
}

STATUS_BY_CODE: dict[str, int] = {
    **{cls.code: status for cls, status in STATUS_BY_ERROR.items()},
    **STATUS_BY_CODE_ONLY,
}


def status_for_error(exc: e.MarketError) -> int:
    """The status of a domain error: its code's if it was given one when raised,
    else its class's (or nearest ancestor's)."""
    if exc.code != type(exc).code and exc.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[exc.code]
    for klass in type(exc).__mro__:
        if klass in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[klass]  # type: ignore[index]
    return 500


def status_for_code(code: str) -> int:
    return STATUS_BY_CODE.get(code, 400)
