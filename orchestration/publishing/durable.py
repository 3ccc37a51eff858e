"""Make a written file, or a rename inside a directory, survive a crash: fsync it."""

import os
from pathlib import Path


def fsync(path: Path) -> None:
    """fsync a file or a directory (a directory's entries: new files and renames).

    Windows cannot open a directory, so there only files are synced.
    """
    if os.name != "posix" and Path(path).is_dir():
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
