"""The read-only copy of the warehouse that BI tools query.

DuckDB allows one writer per file, and the nightly job is that writer. BI tools therefore read
`published/warehouse.duckdb`, a copy swapped in by rename once a night is complete:

- a reader that opened the previous copy keeps reading it (the old file lives on until it
  closes it), so readers are never blocked and never see half a night;
- the publisher writes a new file beside it, so readers never block a publish.
"""

import os
import shutil
from pathlib import Path

import duckdb

PUBLISHED_NAME = "warehouse.duckdb"


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish_warehouse(warehouse: Path, published_dir: Path) -> Path:
    """Copy the finished warehouse beside the published one, then swap it in atomically."""
    published_dir.mkdir(parents=True, exist_ok=True)
    # Fold the write-ahead log into the file so the copy is complete on its own.
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("checkpoint")
    target = published_dir / PUBLISHED_NAME
    temporary = published_dir / f".{PUBLISHED_NAME}.{os.getpid()}.tmp"
    try:
        shutil.copyfile(warehouse, temporary)
        _fsync(temporary)
        os.replace(temporary, target)
        _fsync(published_dir)
    finally:
        temporary.unlink(missing_ok=True)
    return target
