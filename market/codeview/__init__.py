"""The reviewer's view of a bundle's files: kinds, highlighting and diffs.

Pure package: no Django. The admin views read files from the stored bundle
(:func:`market.archive.open_bundle_files`) and render what these functions return.

- :mod:`~market.codeview.kinds`: image, text or binary, from name and bytes;
- :mod:`~market.codeview.highlight`: Pygments HTML with line anchors;
- :mod:`~market.codeview.diff`: files added/removed/changed, unified line diffs.
"""

from market.codeview.diff import (
    DiffBudget,
    FileDiff,
    FileState,
    FileVersions,
    TextDiff,
    TreeDiff,
    diff_files,
    diff_text,
    diff_trees,
)
from market.codeview.highlight import (
    highlight_diff,
    highlight_file,
    lexer_for,
    stylesheet,
)
from market.codeview.kinds import (
    IMAGE_TYPES,
    SNIFF_BYTES,
    decode_text,
    file_kind,
    image_type,
    is_text,
)

__all__ = [
    "IMAGE_TYPES",
    "SNIFF_BYTES",
    "DiffBudget",
    "FileDiff",
    "FileState",
    "FileVersions",
    "TextDiff",
    "TreeDiff",
    "decode_text",
    "diff_files",
    "diff_text",
    "diff_trees",
    "file_kind",
    "highlight_diff",
    "highlight_file",
    "image_type",
    "is_text",
    "lexer_for",
    "stylesheet",
]
