"""Admin views of a stored bundle: its files, one file, raw bytes, and the diff.

Every view needs a staff account with the review permission (the one the review
actions check); others are sent to the admin login (not staff) or refused (403).
Every response carries ``X-Content-Type-Options: nosniff`` and a CSP that allows
nothing but this site's own styles, scripts and images; bundle bytes are only ever
sent as a download (``attachment``) or, for a raster image whose name and bytes
agree, as that image type, sandboxed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from market import codeview
from market.errors import MarketError, NotFoundError
from market.models import CatalogEntry
from market.risk.binaries import binary_format
from market.services.risk import previous_approved
from market.workbench import bundles

logger = logging.getLogger(__name__)

REVIEW_PERMISSION = "market.review_catalogentry"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Bundle bytes: nothing may run or load, even if a browser renders them anyway.
CONTENT_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
# A diff page shows at most this many files' diffs and lines in all; a file's diff
# over COLLAPSE_LINES starts folded, one over FILE_DIFF_LINES is cut.
MAX_DIFF_FILES = 100
PAGE_DIFF_LINES = 10_000
FILE_DIFF_LINES = 2_000
COLLAPSE_LINES = 300
SKIP_NOTES = {
    "binary": "binary file changed",
    "budget": "diff not shown: this page's diff budget is spent",
}

View = Callable[..., HttpResponseBase]


def harden(response: HttpResponseBase, csp: str) -> HttpResponseBase:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = csp
    response["Referrer-Policy"] = "same-origin"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def _plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, content_type="text/plain; charset=utf-8", status=status)


def workbench_view(csp: str = PAGE_CSP) -> Callable[[View], View]:
    """Staff with the review permission only; the entry looked up; headers set."""

    def decorate(view: View) -> View:
        def checked(request: HttpRequest, pk: int) -> HttpResponseBase:
            if not request.user.has_perm(REVIEW_PERMISSION):
                return _plain(403, "Reviewing bundles needs the review permission.")
            entry = (
                CatalogEntry.objects.select_related("submitted_by")
                .filter(pk=pk)
                .first()
            )
            if entry is None:
                return _plain(404, "No such catalogue entry.")
            try:
                return view(request, entry)
            except NotFoundError:
                return _plain(404, "The bundle has no file of that name.")
            except MarketError as exc:
                # A stored bundle that no longer passes the archive checks (tampered
                # storage, rules tightened since): said in plain text, never shown.
                logger.warning(
                    "event=market.workbench_unreadable entry=%s code=%s",
                    entry.pk,
                    exc.code,
                )
                return _plain(
                    422, f"The stored bundle cannot be read safely: [{exc.code}]"
                )

        # GET and HEAD only: these pages read, and a 405 still gets the headers.
        guarded = admin.site.admin_view(require_safe(checked))

        @wraps(view)
        def outer(request: HttpRequest, pk: int) -> HttpResponseBase:
            return harden(guarded(request, pk), csp)

        return outer

    return decorate


def _path(request: HttpRequest) -> str:
    name = request.GET.get("path")
    if not name:
        raise NotFoundError("no file named")
    return name


def _link(view: str, entry: CatalogEntry, name: str | None = None) -> str:
    url = reverse(f"market-workbench:{view}", args=[entry.pk])
    return f"{url}?{urlencode({'path': name})}" if name is not None else url


def _page(
    request: HttpRequest, entry: CatalogEntry, template: str, title: str, **context: Any
) -> TemplateResponse:
    return TemplateResponse(
        request,
        f"market/workbench/{template}",
        {
            **admin.site.each_context(request),
            "title": title,
            "entry": entry,
            "opts": CatalogEntry._meta,
            "tree_url": _link("tree", entry),
            "diff_url": _link("diff", entry),
            "download_url": _link("download", entry),
            "change_url": reverse("admin:market_catalogentry_change", args=[entry.pk]),
            **context,
        },
    )


def linked_findings(entry: CatalogEntry) -> list[dict[str, Any]]:
    found = []
    for finding in (entry.report.get("risk") or {}).get("findings", []):
        if not isinstance(finding, dict):
            continue
        name, line = finding.get("file"), finding.get("line")
        url = _link("file", entry, name) if isinstance(name, str) else ""
        if url and isinstance(line, int):
            url += f"#L-{line}"
        found.append({**finding, "url": url})
    return found


@workbench_view()
def tree(request: HttpRequest, entry: CatalogEntry) -> HttpResponseBase:
    tree = bundles.bundle_tree(entry)
    files = [
        {
            "file": f,
            "url": _link("file", entry, f.name),
            "raw": _link("raw", entry, f.name),
        }
        for f in tree
    ]
    risk = entry.report.get("risk") or {}
    return _page(
        request,
        entry,
        "tree.html",
        f"Files of {entry.extension_id} {entry.version}",
        files=files,
        total_bytes=sum(f.size for f in tree),
        risk=risk,
        findings=linked_findings(entry),
        scanned="risk" in entry.report,
    )


@workbench_view()
def file(request: HttpRequest, entry: CatalogEntry) -> HttpResponseBase:
    name = _path(request)
    state = next((f for f in bundles.bundle_tree(entry) if f.name == name), None)
    if state is None:
        raise NotFoundError("no such file")
    read = bundles.bundle_read(entry, name, max_bytes=bundles.VIEW_BYTES)
    kind = codeview.file_kind(name, read.data, truncated=read.truncated)
    context: dict[str, Any] = {
        "name": name,
        "state": state,
        "kind": kind,
        "truncated": read.truncated,
        "shown_bytes": len(read.data),
        "raw_url": _link("raw", entry, name),
    }
    if kind == "text":
        # Pygments escapes every character of the file: its HTML is inert.
        context["code"] = mark_safe(  # noqa: S308
            codeview.highlight_file(name, codeview.decode_text(read.data))
        )
    elif kind == "image":
        context["image_url"] = _link("image", entry, name)
    else:
        context["binary_format"] = binary_format(read.data[:1024])
    return _page(request, entry, "file.html", name, **context)


def _attachment(response: HttpResponseBase, name: str) -> HttpResponseBase:
    filename = name.rsplit("/", 1)[-1] or "file"
    response["Content-Disposition"] = (
        content_disposition_header(True, filename) or "attachment"
    )
    return response


@workbench_view(CONTENT_CSP)
def raw(request: HttpRequest, entry: CatalogEntry) -> HttpResponseBase:
    name = _path(request)
    size = bundles.bundle_member_size(entry, name)
    response = StreamingHttpResponse(
        bundles.bundle_chunks(entry, name), content_type="application/octet-stream"
    )
    response["Content-Length"] = str(size)
    return _attachment(response, name)


@workbench_view(CONTENT_CSP)
def image(request: HttpRequest, entry: CatalogEntry) -> HttpResponseBase:
    name = _path(request)
    read = bundles.bundle_read(entry, name, max_bytes=bundles.IMAGE_BYTES)
    content_type = codeview.image_type(name, read.data)
    if content_type is None or read.truncated:
        raise NotFoundError("not an image shown inline")
    response = HttpResponse(read.data, content_type=content_type)
    disposition = content_disposition_header(False, name.rsplit("/", 1)[-1])
    if disposition:
        response["Content-Disposition"] = disposition
    return response


@workbench_view(CONTENT_CSP)
def download(request: HttpRequest, entry: CatalogEntry) -> HttpResponseBase:
    try:
        handle = entry.package.open("rb")
    except (OSError, ValueError):
        return _plain(404, "The stored bundle is missing.")
    digest = bundles.package_digest(handle)
    if digest != entry.package_sha256:
        handle.close()
        raise bundles.mismatch(entry, digest)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{entry.extension_id}-{entry.version}.cvnext",
        content_type="application/octet-stream",
    )


def _render_diffs(
    entry: CatalogEntry, previous: CatalogEntry, changed: list[codeview.FileState]
) -> list[dict[str, Any]]:
    reads = bundles.file_diffs(
        entry, previous, [f.name for f in changed[:MAX_DIFF_FILES]]
    )
    diffs = codeview.diff_files(
        [
            codeview.FileVersions(
                name, old.data, new.data, old.truncated, new.truncated
            )
            for name, (old, new) in reads.items()
        ],
        old_label=previous.version,
        new_label=entry.version,
        budget=codeview.DiffBudget(PAGE_DIFF_LINES, FILE_DIFF_LINES, COLLAPSE_LINES),
    )
    by_name = {d.name: d for d in diffs}
    rendered = []
    for state in changed:
        found = by_name.get(state.name) or codeview.FileDiff(
            state.name, skipped="budget"
        )
        rendered.append(
            {
                "name": state.name,
                "size": state.size,
                "url": _link("file", entry, state.name),
                "note": SKIP_NOTES.get(found.skipped, ""),
                "diff": found.diff,
                "collapsed": found.collapsed,
                "partial_input": found.partial_input,
                # Pygments escapes every character of the diff: its HTML is inert.
                "html": mark_safe(  # noqa: S308
                    codeview.highlight_diff(found.diff.lines)
                )
                if found.diff
                else "",
            }
        )
    return rendered


@workbench_view()
def diff(request: HttpRequest, entry: CatalogEntry) -> HttpResponseBase:
    previous = previous_approved(entry)
    context: dict[str, Any] = {"previous": previous}
    if previous is not None:
        new_tree = bundles.bundle_tree(entry)  # unreadable: refused like every page
        try:
            changes = codeview.diff_trees(bundles.bundle_tree(previous), new_tree)
        except MarketError as exc:
            # The old bundle is history; a reviewer still sees the new one.
            logger.warning("event=market.workbench_diff_failed code=%s", exc.code)
            context["error"] = exc.message
        else:
            context.update(
                changes=changes,
                added=[
                    {"state": f, "url": _link("file", entry, f.name)}
                    for f in changes.added
                ],
                files=_render_diffs(entry, previous, [n for _, n in changes.changed]),
            )
    return _page(
        request,
        entry,
        "diff.html",
        f"Changes in {entry.extension_id} {entry.version}",
        **context,
    )
