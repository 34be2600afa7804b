"""Path checks: route paths an extension may serve, files inside a bundle.

Each check returns why a path is unsafe (a phrase to follow the quoted path in a
problem message) or None; the normaliser turns that into a Problem.
"""

from __future__ import annotations

import re
import unicodedata

from market.manifest.registry import MAX_ROUTE_PATH_LENGTH


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def route_path_problem(path: str) -> str | None:
    """Why ``path`` (already given its leading ``/``) is not a safe route path."""
    if not path:
        return "must not be empty"
    if len(path) > MAX_ROUTE_PATH_LENGTH:
        return f"longer than {MAX_ROUTE_PATH_LENGTH} characters"
    if _has_control(path):
        return "contains control characters"
    if "\\" in path:
        return "contains a backslash"
    # Routers decode "%2e%2e" to ".."; one plain spelling per path is safer.
    if "%" in path:
        return "must not contain percent-escapes"
    if "?" in path or "#" in path:
        return "must not contain a query or fragment"
    if "//" in path:
        return "contains an empty segment ('//')"
    if any(seg in (".", "..") for seg in path.split("/")):
        return "contains a '.' or '..' segment"
    return None


def bundle_path_problem(path: str, *, allow_colon: bool = False) -> str | None:
    """Why ``path`` is not a relative path inside the bundle, or None."""
    if not path:
        return "must not be empty"
    if _has_control(path):
        return "contains control characters"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "must be relative to the bundle root (no leading '/')"
    if re.match(r"[A-Za-z]:", path) or (not allow_colon and ":" in path):
        return "must be a plain relative path (no drive letter or URL scheme)"
    segments = path.split("/")
    if ".." in segments:
        return "must stay inside the bundle (no '..')"
    if "" in segments:
        return "contains an empty segment"
    return None


def clean_relative(path: str) -> str:
    """``"./ui/./panel.html"`` -> ``"ui/panel.html"``: one spelling per bundle file."""
    return "/".join(seg for seg in path.strip().split("/") if seg != ".")
