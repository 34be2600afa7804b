"""Records the file system calls that make writes durable, in the order they happen.

``FsLog`` wraps ``os.fsync`` (logged with the path of the descriptor, read from
``/proc/self/fd`` before the call), :func:`market.durable.syncfs` (logged as
``("syncfs", path)``: it flushes everything under that path, and more),
``os.replace``, ``os.rename``, ``os.link``, ``os.unlink``/``os.remove``,
``os.rmdir`` and the database connection's ``commit``,
and keeps one list of events: ``("fsync", path)``, ``("replace", src, dst)``,
``("unlink", path)``, ``("commit",)``, ... Paths are resolved, so they compare with
``FsLog.p(path)``. Thread-safe enough: ``list.append`` is atomic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from market import durable


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


class FsLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    @staticmethod
    def p(path: Any) -> str:
        return os.path.realpath(os.fspath(path))

    def install(self, monkeypatch: pytest.MonkeyPatch, connection: Any = None) -> None:
        real = {
            name: getattr(os, name)
            for name in ("fsync", "replace", "rename", "link", "unlink", "rmdir")
        }

        def fsync(fd: int) -> None:
            self.events.append(("fsync", _fd_path(fd)))
            real["fsync"](fd)

        def two(name: str):
            def call(src, dst, *args, **kwargs):
                self.events.append((name, self.p(src), self.p(dst)))
                return real[name](src, dst, *args, **kwargs)

            return call

        def one(name: str):
            def call(path, *args, **kwargs):
                if kwargs.get("dir_fd") is None:
                    self.events.append((name, self.p(path)))
                else:
                    self.events.append((name, f"<dir_fd>/{path}"))
                return real[name](path, *args, **kwargs)

            return call

        real_syncfs = durable.syncfs

        def syncfs(fd: int) -> None:
            self.events.append(("syncfs", _fd_path(fd)))
            real_syncfs(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(durable, "syncfs", syncfs)
        for name in ("replace", "rename", "link"):
            monkeypatch.setattr(os, name, two(name))
        monkeypatch.setattr(os, "unlink", one("unlink"))
        monkeypatch.setattr(os, "remove", one("unlink"))
        monkeypatch.setattr(os, "rmdir", one("rmdir"))
        if connection is not None:
            commit = connection.commit

            def logged_commit() -> None:
                self.events.append(("commit",))
                commit()

            monkeypatch.setattr(connection, "commit", logged_commit)

    # -- queries ---------------------------------------------------------------

    def index(self, *event: str) -> int:
        """Position of the first event equal to ``event`` (paths resolved)."""
        wanted = (event[0], *(self.p(a) if a else a for a in event[1:]))
        for i, seen in enumerate(self.events):
            if seen == wanted:
                return i
        raise AssertionError(f"{wanted} not in {self.events}")

    def fsyncs(self) -> dict[str, int]:
        """Last position at which each path was flushed by its own fsync."""
        return {e[1]: i for i, e in enumerate(self.events) if e[0] == "fsync"}

    def syncs(self) -> list[str]:
        """The paths through which a volume was synced, in order."""
        return [e[1] for e in self.events if e[0] == "syncfs"]

    def flushes(self, event: tuple[str, ...], path: str) -> bool:
        """Whether ``event`` flushes ``path``: its own fsync, or a sync of the
        volume through a folder holding it."""
        if event == ("fsync", path):
            return True
        return event[0] == "syncfs" and (
            path == event[1] or path.startswith(event[1] + os.sep)
        )

    def first_fsync_after(self, path: Path | str, position: int) -> int:
        """The first event after ``position`` that flushes ``path``."""
        target = self.p(path)
        for i in range(position + 1, len(self.events)):
            if self.flushes(self.events[i], target):
                return i
        raise AssertionError(f"{target} not flushed after event {position}")

    def first_flush(self, path: Path | str) -> int:
        return self.first_fsync_after(path, -1)

    def commits(self) -> list[int]:
        return [i for i, e in enumerate(self.events) if e == ("commit",)]

    def under(self, root: Path | str) -> list[tuple[int, tuple[str, ...]]]:
        """Events touching a path inside ``root`` (or ``root`` itself)."""
        top = self.p(root)
        return [
            (i, e)
            for i, e in enumerate(self.events)
            if any(
                a == top or a.startswith(top + os.sep)
                for a in e[1:]
                if isinstance(a, str)
            )
        ]
