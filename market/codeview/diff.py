"""What changed between two versions of a bundle: files, then lines.

:func:`diff_trees` compares two file lists by SHA-256; :func:`diff_text` is a unified
line diff of one changed text file, cut at ``max_lines`` with the rest counted, so
a huge change is summarised rather than sent whole; :func:`diff_files` diffs every
changed file within one page's :class:`DiffBudget`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from market.codeview.kinds import decode_text, is_text


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


@dataclass(frozen=True)
class FileVersions:
    """The first bytes of both versions of a changed file, and whether each read
    stopped before the file's end."""

    name: str
    old: bytes
    new: bytes
    old_cut: bool = False
    new_cut: bool = False


@dataclass(frozen=True)
class DiffBudget:
    """A page shows at most ``page_lines`` diff lines in all; a file's diff over
    ``collapse_lines`` starts folded, one over ``file_lines`` is cut."""

    page_lines: int = 10_000
    file_lines: int = 2_000
    collapse_lines: int = 300


@dataclass(frozen=True)
class FileDiff:
    name: str
    diff: TextDiff | None = None
    # Why there is no line diff: "binary" or "budget" (the page's lines are spent).
    skipped: str = ""
    collapsed: bool = False
    partial_input: bool = False


def diff_files(
    changed: Iterable[FileVersions],
    *,
    old_label: str,
    new_label: str,
    budget: DiffBudget = DiffBudget(),
) -> list[FileDiff]:
    """A line diff per changed text file, within the page's budget of lines."""
    left, found = budget.page_lines, []
    for item in changed:
        if left <= 0:
            found.append(FileDiff(item.name, skipped="budget"))
            continue
        texts = is_text(item.old, truncated=item.old_cut) and is_text(
            item.new, truncated=item.new_cut
        )
        if not texts:
            found.append(FileDiff(item.name, skipped="binary"))
            continue
        diff = diff_text(
            decode_text(item.old),
            decode_text(item.new),
            old_name=f"{old_label}/{item.name}",
            new_name=f"{new_label}/{item.name}",
            max_lines=min(budget.file_lines, left),
        )
        left -= len(diff.lines)
        found.append(
            FileDiff(
                item.name,
                diff,
                collapsed=diff.total_lines > budget.collapse_lines,
                partial_input=item.old_cut or item.new_cut,
            )
        )
    return found


__all__ = [
    "DiffBudget",
    "FileDiff",
    "FileState",
    "FileVersions",
    "TextDiff",
    "TreeDiff",
    "diff_files",
    "diff_text",
    "diff_trees",
]
