"""Durable writes: a written file, or a folder renamed into place, survives a crash.

A night is written into a temporary folder, each file fsynced as it is closed, and the folder
is renamed into place (``swap_into_place``) only when complete, so a reader never sees a
half-written folder and a failed run leaves the previous one untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


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


def write_json(path: Path, document: dict[str, Any]) -> str:
    """Sorted keys, readable Chinese; returns the file's sha256."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> str:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def swap_into_place(temporary: Path, final: Path, aside: Path) -> None:
    """Replace ``final`` with ``temporary`` by renames, restoring ``final`` if that fails.

    Between the two renames ``final`` briefly does not exist, but it is never half-written.
    """
    if aside.exists():  # left behind by a crashed run with the same run id
        shutil.rmtree(aside)
    replacing = final.exists()
    if replacing:
        final.rename(aside)
    try:
        temporary.rename(final)
    except BaseException:
        if replacing:
            aside.rename(final)
        raise
    # The night is published; tidying up afterwards must not turn it into a failure.
    try:
        fsync(final.parent)
        if replacing:
            shutil.rmtree(aside)
    except OSError as error:
        logger.warning("published %s but could not tidy up %s: %s", final, aside, error)
