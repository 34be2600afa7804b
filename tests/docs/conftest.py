"""The demo server the docs' examples run against: one per test session."""

from __future__ import annotations

import shutil

import pytest

from tests.docs.demo import DemoServer

# The examples pipe into jq, call curl, and build and read zips by hand.
TOOLS = ("bash", "curl", "jq", "zip", "unzip")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    if missing := missing_tools():
        pytest.fail(
            f"{', '.join(missing)} not found on PATH: the docs' examples use them; "
            "install them (Debian/Ubuntu: apt-get install " + " ".join(missing) + ")",
            pytrace=False,
        )
    server = DemoServer(tmp_path_factory.mktemp("docs"))
    try:
        server.setup()
        yield server
    finally:
        server.stop()
