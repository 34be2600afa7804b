"""Catalogue bundle storage on the local disk, flushed before the row is committed.

Django's ``FileSystemStorage`` leaves a saved file in the page cache: after a power
loss, a catalogue entry committed by the database (which does flush) could point at
an empty or missing bundle. This subclass flushes the file and the folders that
gained a name before ``save()`` returns, so the review services, which save the
bundle before they commit its row, never commit a row for bytes that are not on
disk. Remote storages (S3 and the like) are durable when their upload returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage

from market.durable import fsync_dirs, fsync_path


class DurableFileSystemStorage(FileSystemStorage):
    """``FileSystemStorage`` whose ``save()`` returns once the file is on disk."""

    def _save(self, name: str, content: Any) -> str:
        folder = Path(self.path(name)).parent
        missing, probe = [], folder
        while not probe.is_dir() and probe.parent != probe:
            missing.append(probe)
            probe = probe.parent
        name = super()._save(name, content)
        fsync_path(self.path(name))
        # The file's folder, and the parent of each folder the save created.
        fsync_dirs([folder, *(created.parent for created in missing)])
        return name
