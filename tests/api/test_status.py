"""Every domain error and every documented code answers with a deliberate status."""

from __future__ import annotations

import pytest

from market import errors
from market.api.exceptions import error_response
from market.api.status import (
    STATUS_BY_CODE,
    STATUS_BY_CODE_ONLY,
    STATUS_BY_ERROR,
    status_for_error,
)

# PRODUCT.md section 5, "Error codes", with the statuses it names.
PRODUCT_CODES = {
    "manifest_missing": None,
    "manifest_invalid": None,
    "signature_mismatch": None,
    "signature_unsupported": None,
    "trust_unproven": None,
    "content_mismatch": None,
    "corrupt_archive": None,
    "unsafe_path": None,
    "unsafe_entry_type": None,
    "duplicate_entry": None,
    "unsupported_compression": None,
    "encrypted_entry": None,
    "limit_exceeded": None,
    "package_too_large": 413,
    "path_not_allowed": None,
    "already_installed": 409,
    "downgrade_refused": 409,
    "not_installed": 404,
    "install_in_progress": 409,
    "feature_disabled": 403,
    "not_authenticated": 401,
    "permission_denied": 403,
    "throttled": 429,
    "not_found": 404,
    "server_error": 500,
    "version_exists": 409,
    "not_owner": 403,
    "incompatible": 409,
    "missing_dependency": 409,
    "dependency_in_use": 409,
    "consent_required": 409,
    "invalid_request": 400,
}
# The bundle-content codes: "422 invalid bundle".
INVALID_BUNDLE = {
    "manifest_missing",
    "manifest_invalid",
    "signature_mismatch",
    "signature_unsupported",
    "trust_unproven",
    "content_mismatch",
    "corrupt_archive",
    "unsafe_path",
    "unsafe_entry_type",
    "duplicate_entry",
    "unsupported_compression",
    "encrypted_entry",
    "limit_exceeded",
}
# 502: the central marketplace a studio syncs from failed it (market.upstream).
STATUSES = {400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 429, 500, 502}


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | all_subclasses(sub)
    return found


DOMAIN_ERRORS = sorted(all_subclasses(errors.MarketError), key=lambda c: c.__name__)


def test_the_walk_finds_the_whole_hierarchy():
    assert errors.UnsafePathError in DOMAIN_ERRORS  # a grandchild
    assert len(DOMAIN_ERRORS) >= 25


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_every_domain_error_has_a_status_of_its_own(cls):
    # An entry for the class itself, not one inherited by accident: adding an error
    # class means deciding its status.
    assert cls in STATUS_BY_ERROR, f"add {cls.__name__} to STATUS_BY_ERROR"
    assert STATUS_BY_ERROR[cls] in STATUSES
    instance = cls.__new__(cls)
    instance.code = cls.code
    assert status_for_error(instance) == STATUS_BY_ERROR[cls]


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_classes_sharing_a_code_share_its_status(cls):
    assert cls.code != errors.MarketError.code
    for other in DOMAIN_ERRORS:
        if other.code == cls.code:
            assert STATUS_BY_ERROR[other] == STATUS_BY_ERROR[cls], other
    assert STATUS_BY_CODE[cls.code] == STATUS_BY_ERROR[cls]


@pytest.mark.parametrize("code", sorted(PRODUCT_CODES))
def test_every_documented_code_has_its_status(code):
    assert code in STATUS_BY_CODE
    expected = PRODUCT_CODES[code]
    if expected is not None:
        assert STATUS_BY_CODE[code] == expected
    if code in INVALID_BUNDLE:
        assert STATUS_BY_CODE[code] == 422
    response = error_response(code, "m")
    assert response.status_code == STATUS_BY_CODE[code]


def test_codes_without_a_class_agree_with_the_classes():
    by_class = {cls.code: status for cls, status in STATUS_BY_ERROR.items()}
    for code, status in STATUS_BY_CODE_ONLY.items():
        assert by_class.get(code, status) == status, code


def test_a_code_given_when_raising_decides_the_status():
    exc = errors.ReviewError("already submitted", code="version_exists")
    assert status_for_error(exc) == 409
    assert status_for_error(errors.InvalidRequestError("x", code="not_owner")) == 403
    # An unknown code given when raising falls back to the class's status.
    assert status_for_error(errors.NotFoundError("x", code="no_such_thing")) == 404


def test_a_subclass_without_an_entry_takes_its_nearest_ancestors_status():
    class LocalArchiveError(errors.UnsafePathError):
        code = "local_archive_problem"

    assert status_for_error(LocalArchiveError("x")) == 422
