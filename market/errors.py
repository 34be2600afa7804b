"""Domain errors of the marketplace.

Every error carries a stable snake_case ``code`` (part of the API contract: add codes,
never rename them), a human ``message`` and JSON-serialisable ``details``. Errors know
nothing about HTTP: ``market/api/status.py`` maps each class to a status in one table.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

# Every list an error carries (problems, warnings, entries) keeps its first MAX_LISTED
# items plus the total, and every text is clipped, so a small hostile input can never
# turn into a large response, stored row or log line.
MAX_LISTED = 50
MAX_PATH_CHARS = 256
MAX_MESSAGE_CHARS = 500
MAX_TEXT_CHARS = 1000
MAX_DETAIL_DEPTH = 6


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def bounded(value: Any, depth: int = 0) -> Any:
    """A copy of JSON-ish ``value`` of bounded size, for error details.

    Lists and objects keep their first MAX_LISTED items; a list cut short inside an
    object gets a ``<key>_count`` sibling with its real length. Strings are clipped
    to MAX_TEXT_CHARS, and anything nested deeper than MAX_DETAIL_DEPTH is dropped.
    """
    if isinstance(value, str):
        return clip(value, MAX_TEXT_CHARS)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DETAIL_DEPTH:
        return None
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in list(value.items())[:MAX_LISTED]:
            name = clip(str(key), MAX_PATH_CHARS)
            out[name] = bounded(item, depth + 1)
            if isinstance(item, list | tuple) and len(item) > MAX_LISTED:
                out.setdefault(f"{name}_count", len(item))
        return out
    if isinstance(value, list | tuple):
        return [bounded(item, depth + 1) for item in value[:MAX_LISTED]]
    return clip(str(value), MAX_TEXT_CHARS)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, at a JSON-ish path (``routes[2].path``)."""

    path: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def clipped(self) -> Problem:
        """This problem with its path and message cut to their bounds."""
        path = clip(self.path, MAX_PATH_CHARS)
        message = clip(self.message, MAX_MESSAGE_CHARS)
        if path == self.path and message == self.message:
            return self
        return Problem(path, self.code, message)


_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def problem_sort_key(problem: Problem) -> tuple[tuple[int, int, str], ...]:
    """Sort key putting problems in path order, indexes numerically: ``routes[2]``
    before ``routes[10]``, the root (``""``) first."""
    # Indexes compare by (length, digits): no int() of an arbitrarily long number.
    return tuple(
        (0, len(index), index) if index else (1, 0, name)
        for index, name in _PATH_TOKEN.findall(problem.path)
    )


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` in path order; problems at one path keep their order."""
    return sorted(problems, key=problem_sort_key)


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
        message = clip(message, MAX_TEXT_CHARS)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = bounded(details) if details is not None else {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ManifestError(MarketError):
    """The manifest is invalid.

    ``problems`` are the first MAX_LISTED problems given (the normaliser gives
    them sorted by path), in path order and ``problem_count`` how many there are in all,
    so a modder sees many problems at once and a hostile manifest that repeats one
    mistake a million times still makes a small error.
    """

    code = "manifest_invalid"

    def __init__(
        self,
        problems: Iterable[Problem],
        message: str | None = None,
        *,
        count: int | None = None,
        exact: bool = True,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        listed = list(itertools.islice(problems, MAX_LISTED + 1))
        self.problem_count = max(count or 0, len(listed))
        # False when validation stopped looking: ``problem_count`` is a minimum.
        self.problem_count_exact = exact
        # Sorted here too, so a list assembled anywhere reads in path order.
        self.problems = sort_problems(p.clipped() for p in listed[:MAX_LISTED])
        if message is None:
            noun = "problem" if self.problem_count == 1 else "problems"
            at_least = "" if exact else "at least "
            message = f"manifest has {at_least}{self.problem_count} {noun}"
            if self.problems:
                first = self.problems[0]
                message += f"; first: {first.path}: {first.message}"
        more = {} if exact else {"problem_count_exact": False}
        super().__init__(
            message,
            code=code,
            details={
                **(details or {}),
                "problems": [p.as_dict() for p in self.problems],
                "problem_count": self.problem_count,
                **more,
            },
        )


class ManifestLimitError(ManifestError):
    """The manifest is over one of the bounds on its size and shape (``limit``).

    Refused before any rule runs on it, so the work a manifest can cause is bounded.
    """

    code = "limit_exceeded"

    def __init__(self, *, name: str, limit: int, value: int, path: str) -> None:
        problem = Problem(path, "limit_exceeded", f"{value} is over {name}={limit}")
        super().__init__(
            [problem],
            f"the manifest is over its limit {name}={limit} at {path or '(root)'}",
            code="limit_exceeded",
            details={"name": name, "limit": limit, "value": value, "path": path},
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


class UnusablePathError(MarketError):
    """A server path the file system cannot use: too long, a NUL, a loop, not a
    regular file. ``details.reason`` names which."""

    code = "unusable_path"


class AlreadyInstalledError(MarketError):
    code = "already_installed"


class DowngradeRefusedError(MarketError):
    code = "downgrade_refused"


class NotInstalledError(MarketError):
    code = "not_installed"


class InstallInProgressError(MarketError):
    code = "install_in_progress"


class IncompatibleError(MarketError):
    """The version's ``compatibility.studio`` range excludes the Studio asking."""

    code = "incompatible"


class MissingDependencyError(MarketError):
    """A dependency is not installed, or not at a version in its range."""

    code = "missing_dependency"


class DependencyCycleError(MarketError):
    """The dependencies, followed through the catalogue, come back to themselves."""

    code = "dependency_cycle"


class DependencyInUseError(MarketError):
    """An installed extension depends on the one to uninstall."""

    code = "dependency_in_use"


class NotFoundError(MarketError):
    code = "not_found"


class InvalidRequestError(MarketError):
    code = "invalid_request"


class InvalidCharactersError(InvalidRequestError):
    """Display text (a reviewer's reason, ...) holds a control, bidi, invisible,
    private-use or unassigned character (``market/characters.py``)."""

    code = "invalid_characters"


class FeatureDisabledError(MarketError):
    code = "feature_disabled"


class ConfigError(MarketError):
    """A configuration file (flags, allowlist) is unreadable or malformed."""

    code = "config_invalid"


class TooManyPendingError(MarketError):
    """A user already has the most submissions waiting for review that one may."""

    code = "too_many_pending"

    def __init__(self, *, limit: int, pending: int) -> None:
        super().__init__(
            f"you have {pending} submissions waiting for review; the limit is "
            f"{limit}: wait for a decision (or ask a reviewer) before submitting more",
            details={"limit": limit, "pending": pending},
        )


class ReviewError(MarketError):
    code = "review_refused"


class OwnershipError(MarketError):
    """A change to who owns or maintains an extension id was refused
    (``already_owner``, ``already_maintainer``, ``owner_not_removable``)."""

    code = "ownership_refused"


class NotOwnerError(OwnershipError):
    """The id belongs to another user: only its owner (and its maintainers, for
    submissions) may act on it."""

    code = "not_owner"


class NotMaintainerError(OwnershipError):
    code = "not_maintainer"


class UnknownUserError(MarketError):
    code = "unknown_user"


class PermissionDeniedError(MarketError):
    """The user is known but may not do this (a role the action needs)."""

    code = "permission_denied"


class SigningKeyMissingError(ReviewError):
    """Approving as verified needs the catalogue key, which is never made implicitly."""

    code = "signing_key_missing"


class SigningKeyExistsError(MarketError):
    """``market_keys create`` never replaces a key (``rotate`` does, keeping the old
    public key)."""

    code = "signing_key_exists"


class ConsentRequiredError(MarketError):
    """An upgrade asks for permissions, global routes or hooks the installed version
    did not have, and the request did not accept every one of them."""

    code = "consent_required"


class NoPreviousVersionError(MarketError):
    """A rollback of an extension that has no kept previous version."""

    code = "no_previous_version"


class LockMismatchError(MarketError):
    """A lockfile names a version the catalogue does not hold with those digests."""

    code = "lock_mismatch"


class RestoreConflictError(MarketError):
    """A restore would replace or leave behind installs the lockfile does not name."""

    code = "restore_conflict"


class SnapshotError(MarketError):
    """An upstream catalogue snapshot that is not accepted (nothing of it is stored)."""

    code = "snapshot_invalid"


class SnapshotInvalidError(SnapshotError):
    """The snapshot's signature does not verify, or its document is malformed."""

    code = "snapshot_invalid"


class SnapshotUntrustedError(SnapshotError):
    """The snapshot is signed by a key that is neither pinned nor accepted."""

    code = "snapshot_untrusted"


class SnapshotRollbackError(SnapshotError):
    """The snapshot's revision is lower than the last one accepted (a replay)."""

    code = "snapshot_rollback"


class SnapshotExpiredError(SnapshotError):
    """The snapshot (or the last one accepted, for an install) has expired."""

    code = "snapshot_expired"


class UpstreamUnavailableError(MarketError):
    """The upstream marketplace could not be reached, or answered with an error."""

    code = "upstream_unavailable"


class SyncInProgressError(MarketError):
    """Another sync from the central marketplace is running (one at a time)."""

    code = "sync_in_progress"


class UpstreamNotConfiguredError(MarketError):
    """A sync was asked for, but ``MARKET_UPSTREAM_URL`` is not set."""

    code = "upstream_not_configured"
