"""What kind of file a bundle member is, from its name and its first bytes.

An image is shown inline only when its name *and* its bytes agree on a raster format
(PNG, JPEG, GIF, WebP); SVG is XML that can carry script, so it is text. Text is
UTF-8 without NUL bytes; everything else is a binary, shown as metadata only.
"""

from __future__ import annotations

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
SNIFF_BYTES = 8192


def _suffix(name: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    return base[base.rfind(".") :] if "." in base else ""


def _magic_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_type(name: str, head: bytes) -> str | None:
    """The image's content type, when its name and its first bytes agree."""
    declared = IMAGE_TYPES.get(_suffix(name))
    return declared if declared is not None and declared == _magic_type(head) else None


def is_text(data: bytes, *, truncated: bool = False) -> bool:
    """Whether ``data`` reads as UTF-8 text (a ``truncated`` read may end inside a
    character)."""
    if b"\0" in data:
        return False
    for cut in range(4 if truncated else 1):
        try:
            data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


def file_kind(name: str, head: bytes, *, truncated: bool = False) -> str:
    """``"image"``, ``"text"`` or ``"binary"``."""
    if image_type(name, head):
        return "image"
    return "text" if is_text(head, truncated=truncated) else "binary"


def decode_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


__all__ = [
    "IMAGE_TYPES",
    "SNIFF_BYTES",
    "decode_text",
    "file_kind",
    "image_type",
    "is_text",
]
