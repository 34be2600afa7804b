"""Reading single files from a stored bundle: exact member names, bounded reads."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.archive import DEFAULT_LIMITS, ArchiveLimits
from market.archive.files import open_bundle_files
from market.errors import LimitExceededError, NotFoundError, UnsafePathError
from tests.bundles import FILES, good_entries, write_zip


@pytest.fixture
def bundle(tmp_path):
    return write_zip(tmp_path / "b.cvnext", good_entries())


def test_files_sizes_and_digests(bundle):
    with open_bundle_files(bundle, limits=DEFAULT_LIMITS) as files:
        assert files.names == ["assets/readme.txt", "main.py", "manifest.json"]
        assert files.sha256 == ""
        entry = files.entry("main.py")
        assert entry.size == len(FILES["main.py"])
        assert entry.sha256 == hashlib.sha256(FILES["main.py"]).hexdigest()
        assert [e.name for e in files.entries()] == files.names


def test_hashed_open_digests_the_bundle(bundle):
    with open_bundle_files(bundle, limits=DEFAULT_LIMITS, hashed=True) as files:
        assert files.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
        assert files.size == bundle.stat().st_size


def test_reads_are_bounded(bundle):
    data = FILES["assets/readme.txt"]
    with open_bundle_files(bundle, limits=DEFAULT_LIMITS) as files:
        assert files.read("assets/readme.txt", max_bytes=5) == data[:5]
        assert files.read("assets/readme.txt", max_bytes=10**9) == data
        assert files.read("assets/readme.txt", max_bytes=-1) == b""
        assert b"".join(files.chunks("assets/readme.txt", chunk_bytes=7)) == data


@pytest.mark.parametrize(
    "name", ["../main.py", "/main.py", "main.py\x00", "assets/", "assets", "", None, 3]
)
def test_non_members_are_not_found(bundle, name):
    with open_bundle_files(bundle, limits=DEFAULT_LIMITS) as files:
        with pytest.raises(NotFoundError) as caught:
            files.read(name, max_bytes=10)
        assert caught.value.code == "not_found"


def test_bundle_checks_still_apply(tmp_path):
    bad = write_zip(tmp_path / "bad.cvnext", good_entries({"../evil.py": b"x"}))
    with pytest.raises(UnsafePathError), open_bundle_files(bad, limits=DEFAULT_LIMITS):
        pass
    small = ArchiveLimits(max_package_bytes=10)
    with pytest.raises(Exception) as caught, open_bundle_files(bad, limits=small):
        pass
    assert caught.value.code == "package_too_large"
    few = ArchiveLimits(max_entries=1)
    good = write_zip(tmp_path / "good.cvnext", good_entries())
    with pytest.raises(LimitExceededError), open_bundle_files(good, limits=few):
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_names_are_members_or_not_found(tmp_path_factory, name):
    bundle = tmp_path_factory.getbasetemp() / "hypothesis.cvnext"
    if not bundle.exists():
        write_zip(bundle, good_entries())
    with open_bundle_files(bundle, limits=DEFAULT_LIMITS) as files:
        if name in files.names:
            assert files.read(name, max_bytes=3) is not None
        else:
            with pytest.raises(NotFoundError):
                files.read(name, max_bytes=3)
