"""Syntax-highlighted HTML of a file or a diff, with Pygments.

Pygments escapes every character of the source, so the HTML it returns is inert
whatever the file holds (a ``<script>`` in an HTML or SVG file is shown as text).
Lines carry anchors (``#L-12``) so a risk finding can link to its line. Colours come
from classes and a stylesheet (:func:`stylesheet`), never inline styles, so the
pages work under a CSP without ``'unsafe-inline'``.
"""

from __future__ import annotations

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import DiffLexer, TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

CSS_CLASS = "highlight"


def lexer_for(name: str) -> Lexer:
    """The lexer Pygments picks for the file's name (never by content), else text."""
    base = name.rsplit("/", 1)[-1]
    try:
        return get_lexer_for_filename(base, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=True)
    except Exception:  # a lexer plugin failing on an odd name must not break a page
        return TextLexer(stripnl=False, ensurenl=True)


def highlight_file(name: str, text: str) -> str:
    """The file as an HTML table: line numbers (anchored ``L-<n>``) and code."""
    formatter = HtmlFormatter(
        linenos="table",
        lineanchors="L",
        anchorlinenos=True,
        cssclass=CSS_CLASS,
        wrapcode=True,
    )
    return highlight(text, lexer_for(name), formatter)


def highlight_diff(lines: tuple[str, ...] | list[str]) -> str:
    formatter = HtmlFormatter(cssclass=CSS_CLASS, wrapcode=True)
    return highlight("\n".join(lines) + "\n", DiffLexer(stripnl=False), formatter)


def stylesheet() -> str:
    return HtmlFormatter(style="default").get_style_defs(f".{CSS_CLASS}")


__all__ = ["highlight_diff", "highlight_file", "lexer_for", "stylesheet"]
