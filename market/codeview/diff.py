"""What changed between two versions of a bundle: files, then lines.

:func:`diff_trees` compares two file lists by SHA-256; :func:`diff_text` is a unified
line diff of one changed text file, cut at ``max_lines`` with the rest counted, so
a huge change is summarised rather than sent whole.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FileState:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TreeDiff:
    added: tuple[FileState, ...]
    removed: tuple[FileState, ...]
    # (old, new) pairs of files present in both with different content
    changed: tuple[tuple[FileState, FileState], ...]
    unchanged: int

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class TextDiff:
    lines: tuple[str, ...]
    added: int
    removed: int
    total_lines: int
    truncated: bool


def diff_trees(old: Iterable[FileState], new: Iterable[FileState]) -> TreeDiff:
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}
    changed = tuple(
        (before[n], after[n])
        for n in sorted(before.keys() & after.keys())
        if before[n].sha256 != after[n].sha256
    )
    return TreeDiff(
        added=tuple(after[n] for n in sorted(after.keys() - before.keys())),
        removed=tuple(before[n] for n in sorted(before.keys() - after.keys())),
        changed=changed,
        unchanged=len(before.keys() & after.keys()) - len(changed),
    )


def diff_text(
    old: str,
    new: str,
    *,
    old_name: str = "a",
    new_name: str = "b",
    context: int = 3,
    max_lines: int = 2000,
) -> TextDiff:
    """A unified diff: its first ``max_lines`` lines, with every line counted."""
    kept: list[str] = []
    added = removed = total = 0
    for line in difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        fromfile=old_name,
        tofile=new_name,
        n=context,
        lineterm="",
    ):
        total += 1
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
        if len(kept) < max_lines:
            kept.append(line)
    return TextDiff(
        lines=tuple(kept),
        added=added,
        removed=removed,
        total_lines=total,
        truncated=total > len(kept),
    )


__all__ = ["FileState", "TextDiff", "TreeDiff", "diff_text", "diff_trees"]
