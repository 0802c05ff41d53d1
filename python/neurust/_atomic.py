"""Files written whole or not at all: a temporary file beside the target, then a rename.

Every file neurust writes (a saved net, ``compare --json`` and ``--plot``,
``demo --plots``) goes through :func:`replacing`. The data goes to a
temporary file in the target's folder, is flushed and synced to disk, and
only then renamed over the target with :func:`os.replace`, which is atomic
on POSIX and Windows within one file system. So a full disk, a kill, a
Ctrl-C or an exception while writing leaves the previous file as it was,
and of several processes or threads writing one path at once, one whole
file wins. On any failure, including ``KeyboardInterrupt``, the temporary
file is removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _temporary_name(target: Path) -> Path:
    # Not tempfile.mkstemp: its files are private (0600), while a saved file
    # should get the mode the umask gives any new file, as a plain open does.
    # The random part keeps concurrent writers (threads or processes) apart.
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write; on leaving the block without an error it becomes ``path``.

    Raises
    ------
    OSError
        If the temporary file cannot be created, written or renamed (the
        folder is missing or read-only, the disk is full); ``path`` is then
        unchanged and no temporary file is left.

    Examples
    --------
    >>> with replacing("out.json") as file:  # doctest: +SKIP
    ...     file.write(b"{}")
    """
    target = Path(os.fspath(path))
    temporary = _temporary_name(target)
    try:
        with open(temporary, "xb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); where a folder cannot be opened, skip it."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`replacing`)."""
    with replacing(path) as file:
        file.write(data)
