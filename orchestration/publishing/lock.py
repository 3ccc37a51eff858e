"""One publisher at a time per published directory.

Two runs of the same night (a re-run started while a stuck run still publishes, or a backfill
overlapping the schedule) must not interleave their renames. Each publisher holds an OS file
lock on ``<root>/.publish.lock`` while it writes and swaps. The OS releases the lock when the
holder dies, even by SIGKILL, so a killed run never blocks the next one; the next holder then
tidies what the killed one left half done (see the callers' ``recover`` steps).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from filelock import FileLock, Timeout

from orchestration.publishing.errors import PublishError

LOCK_FILE: Final = ".publish.lock"
# A night publishes in seconds to minutes; waiting longer than this means something is stuck.
DEFAULT_LOCK_TIMEOUT_SECONDS: Final = 1800.0


@contextmanager
def publisher_lock(
    root: Path, timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
) -> Iterator[None]:
    """Hold the publisher lock of ``root``; PublishError if another publisher keeps it too long."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(root / LOCK_FILE)
    try:
        lock.acquire(timeout=timeout_seconds)
    except Timeout as error:
        raise PublishError(
            f"another publisher has held {root / LOCK_FILE} for over {timeout_seconds:g} s; "
            "is a run of the same night still publishing?"
        ) from error
    try:
        yield
    finally:
        lock.release()
