"""Every shell example of README.md and docs/*.md runs against a live demo server and
prints what the doc shows (see ``blocks.py`` for what counts as an example and how
output is compared, ``demo.py`` for the server)."""

from __future__ import annotations

import pytest

from tests.docs.blocks import doc_files, find_blocks
from tests.docs.conftest import missing_tools

BLOCKS = [block for path in doc_files() for block in find_blocks(path)]
RUNNABLE = [block for block in BLOCKS if block.norun is None]

# A demo server on a loopback port, for the whole session.
pytestmark = pytest.mark.server


def test_the_examples_tools_are_installed():
    assert not missing_tools(), (
        f"{', '.join(missing_tools())} not found on PATH: the docs' examples use them"
    )


def test_examples_are_found():
    names = {block.name for block in BLOCKS}
    assert "README.md" in {name.split(":")[0] for name in names}
    assert len(RUNNABLE) >= 20


def test_every_norun_block_says_why():
    norun = [block for block in BLOCKS if block.norun is not None]
    for block in norun:
        print(f"norun {block.name}: {block.norun}")
    assert [block.name for block in norun if not block.norun] == []


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
def test_example_runs_as_documented(block, demo):
    demo.prepare(block, RUNNABLE)
    problems = demo.check(block)
    assert not problems, f"{block.name}:\n\n" + "\n\n".join(problems)
